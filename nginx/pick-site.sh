#!/bin/sh
# Runs before the image's envsubst step (20-envsubst-on-templates.sh): choose the site's template.
set -e
mkdir -p /etc/nginx/templates
cp "/etc/nginx/mediaconv/${NGINX_SITE:-http}.conf.template" /etc/nginx/templates/default.conf.template
cp /etc/nginx/mediaconv/locations.inc.template /etc/nginx/templates/locations.inc.template
