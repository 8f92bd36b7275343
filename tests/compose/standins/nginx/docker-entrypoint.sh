#!/bin/sh
# As the official image: run the start-up scripts, then fill in the templates with the defined variables only.
set -e
for script in /docker-entrypoint.d/*.sh; do
    [ -x "$script" ] && "$script"
done
defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
    [ -f "$template" ] || continue
    name=$(basename "$template" .template)
    envsubst "$defined" < "$template" > "/etc/nginx/conf.d/$name"
done
exec "$@"
