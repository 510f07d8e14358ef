"""``python -m app``: serve ``app.main:app`` with uvicorn on the configured host and port.

SIGTERM stops it gracefully: no new connection is taken, the requests in flight are
answered, the models' threads end, and the process exits 0. (uvicorn alone raises the
signal again once it has shut down, so ``uvicorn app.main:app`` ends "killed by SIGTERM",
exit status 143, after the same clean shutdown.)
"""

import signal

import uvicorn

from app.settings import get_settings

if __name__ == "__main__":
    settings = get_settings()
    # uvicorn handles SIGTERM while it runs, then restores this handler and raises the
    # signal again: ignoring it here turns a completed graceful stop into exit status 0
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.run("app.main:app", host=settings.host, port=settings.port)
