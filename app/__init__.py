"""The HTTP service over ``models/``: FastAPI routers, settings, the loaded models' lifecycle."""
