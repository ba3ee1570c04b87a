"""The limits of one imported or uploaded file, from the environment: a module of its own, so
that the settings read them at the start without loading the file readers (pandas)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ImportLimits(BaseSettings):
    """What one file (an upload, or an import from the command line) may hold, from the
    environment (FANGPIN_IMPORT_MAX_BYTES, …) like the service's settings. A spreadsheet is
    refused before it is parsed when its unpacked size is over the limit (a small XLSX can
    unpack to gigabytes), and parsing stops at the row limit, so no file costs more time or
    memory than these allow."""

    model_config = SettingsConfigDict(env_prefix="FANGPIN_IMPORT_", env_file=".env",
                                      extra="ignore")
    max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    max_rows: int = Field(default=200_000, ge=1)
    max_unzipped_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
