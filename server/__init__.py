"""The composition root: command line (and, later, the FastAPI app, storage and live hub)."""

__all__: list[str] = []
