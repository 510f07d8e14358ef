"""``python -m app [uvicorn options]``: serve ``app.main:app`` with uvicorn, its edge set
from the settings (the image's entrypoint runs this too):

    --host/--port               AUTOCOMPLETE_HOST, AUTOCOMPLETE_PORT
    --http app.edge:...         a request's headers and body must arrive within
                                AUTOCOMPLETE_REQUEST_TIMEOUT_S (slowloris), else 408
    --timeout-keep-alive        AUTOCOMPLETE_KEEP_ALIVE_S (longer than a proxy's upstream
                                keep-alive, so the proxy is the one that closes)
    --limit-concurrency         AUTOCOMPLETE_MAX_CONNECTIONS, beyond them 503
    --forwarded-allow-ips       AUTOCOMPLETE_FORWARDED_ALLOW_IPS: only the proxy is believed
    --timeout-graceful-shutdown AUTOCOMPLETE_GRACEFUL_SHUTDOWN_S
    --no-access-log             AUTOCOMPLETE_ACCESS_LOG=false (query strings, what people
                                type, are kept out of it anyway: app/lifecycle.py)

Options given on the command line come after these, so they win (``--workers 2``).

SIGTERM stops it gracefully: no new connection is taken, the requests in flight are
answered, the models' threads end, and the process exits 0. (uvicorn alone raises the
signal again once it has shut down, so ``uvicorn app.main:app`` ends "killed by SIGTERM",
exit status 143, after the same clean shutdown.)
"""

from __future__ import annotations

import signal
import sys

from pydantic import ValidationError

from app.settings import Settings, get_settings


def uvicorn_args(settings: Settings) -> list[str]:
    """uvicorn's command line for ``settings``."""
    args = ["app.main:app", "--host", settings.host, "--port", str(settings.port),
            "--http", "app.edge:ReceiveTimeoutProtocol",
            "--timeout-keep-alive", str(settings.keep_alive_s),
            "--limit-concurrency", str(settings.max_connections),
            "--proxy-headers", "--forwarded-allow-ips", settings.forwarded_allow_ips,
            "--no-server-header",
            "--timeout-graceful-shutdown", str(settings.graceful_shutdown_s)]
    if not settings.access_log:
        args.append("--no-access-log")
    return args


def main(argv: list[str]) -> None:
    try:
        settings = get_settings()
    except ValidationError as e:  # say why, without a traceback, and do not start
        sys.exit(f"autocomplete: the settings are refused: {e}")
    from uvicorn.main import main as uvicorn_cli  # the click command, not uvicorn.main()

    # uvicorn handles SIGTERM while it runs, then restores this handler and raises the
    # signal again: ignoring it here turns a completed graceful stop into exit status 0
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn_cli.main(args=[*uvicorn_args(settings), *argv], prog_name="python -m app")


if __name__ == "__main__":
    main(sys.argv[1:])
