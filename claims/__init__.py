"""The service: settings, database and migrations, the FastAPI app and the CLI. Composes
``policies`` and ``risk``."""
