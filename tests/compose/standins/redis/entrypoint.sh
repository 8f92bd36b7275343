#!/bin/sh
set -e
if [ "$1" = "redis-server" ]; then
    chown -R redis:redis /data
    exec runuser -u redis -- "$@" --protected-mode no
fi
exec "$@"
