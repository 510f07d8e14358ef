"""``python -m app``: serve ``app.main:app`` with uvicorn on the configured host and port."""

import uvicorn

from app.settings import get_settings

if __name__ == "__main__":
    settings = get_settings()
    uvicorn.run("app.main:app", host=settings.host, port=settings.port)
