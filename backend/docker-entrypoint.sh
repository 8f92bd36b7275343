#!/bin/sh
# Roles of the backend image: web (gunicorn), dev (runserver with autoreload), beat, flower, or any command.
set -e
prepare() {
    python manage.py migrate --noinput
    python manage.py collectstatic --noinput --verbosity 0
    python manage.py ensure_bucket
}
case "${1:-web}" in
    web)
        prepare
        # nginx buffers request bodies; threads keep the web answering even when reached directly.
        # No control socket: its default path is one per host, shared by every instance on it.
        exec gunicorn backend.config.wsgi --bind 0.0.0.0:8000 --workers "${WEB_CONCURRENCY:-3}" --no-control-socket \
            --worker-class gthread --threads "${WEB_THREADS:-8}" \
            --timeout "${WEB_TIMEOUT:-900}" --access-logfile - --forwarded-allow-ips '*'
        ;;
    dev)
        prepare
        exec python manage.py runserver 0.0.0.0:8000
        ;;
    beat)
        exec python -m workers beat
        ;;
    flower)
        set -- celery -A backend.config flower --address=0.0.0.0 --port=5555
        if [ -n "${FLOWER_BASIC_AUTH:-}" ]; then set -- "$@" --basic-auth="$FLOWER_BASIC_AUTH"; fi
        if [ -n "${FLOWER_URL_PREFIX:-}" ]; then set -- "$@" --url-prefix="$FLOWER_URL_PREFIX"; fi
        exec "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
