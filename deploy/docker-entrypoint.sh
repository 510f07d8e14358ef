#!/bin/sh
# The image's entrypoint: `serve` (the default) runs the service, `train ...` and
# `evaluate ...` run those scripts with the arguments given, anything else runs as is.
set -eu

command="${1:-serve}"
[ "$#" -gt 0 ] && shift

case "$command" in
    serve)
        # One worker per container is the rule (scale with replicas); WEB_CONCURRENCY
        # workers each load the model. --proxy-headers: the client address behind nginx.
        exec python -m uvicorn app.main:app \
            --host "${AUTOCOMPLETE_HOST:-0.0.0.0}" --port "${AUTOCOMPLETE_PORT:-8000}" \
            --workers "${WEB_CONCURRENCY:-1}" --proxy-headers \
            --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" --no-server-header \
            --timeout-graceful-shutdown "${GRACEFUL_SHUTDOWN_S:-10}" "$@"
        ;;
    train)
        exec python /app/scripts/train.py "$@"
        ;;
    evaluate)
        exec python /app/scripts/evaluate.py "$@"
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
