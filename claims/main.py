"""The ASGI application for uvicorn: ``uvicorn claims.main:app``."""

from claims.app import create_app
from claims.logs import configure_logging
from claims.settings import get_settings

_settings = get_settings()
configure_logging(_settings.log_level, _settings.log_format)
app = create_app()
