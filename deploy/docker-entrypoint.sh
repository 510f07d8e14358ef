#!/bin/sh
# The image's entrypoint: `serve` (the default) runs the service, `train ...` and
# `evaluate ...` run those scripts with the arguments given, anything else runs as is.
set -eu

command="${1:-serve}"
[ "$#" -gt 0 ] && shift

case "$command" in
    serve)
        # One worker per container is the rule (scale with replicas); WEB_CONCURRENCY
        # workers each load the model. python -m app runs uvicorn with the edge the
        # settings give (app/__main__.py): receive timeout, keep-alive, connection limit,
        # X-Forwarded-For believed only from AUTOCOMPLETE_FORWARDED_ALLOW_IPS (the proxy).
        exec python -m app --workers "${WEB_CONCURRENCY:-1}" "$@"
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
