"""Settings from the environment (prefix ``FANGPIN_``) or a ``.env`` file."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from policies.limits import ImportLimits

PLACEHOLDER_SECRETS = {"", "changethis", "change-me", "secret", "development-only-secret"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FANGPIN_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///var/fangpin.db"
    secret_key: SecretStr = SecretStr("development-only-secret")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    # The limits of an uploaded or imported file (FANGPIN_IMPORT_MAX_BYTES, _MAX_ROWS,
    # _MAX_UNZIPPED_BYTES) are read where files are read: policies.limits.ImportLimits.
    # Days a claim may stay in a state, e.g. FANGPIN_SERVICE_LEVEL_DAYS='{"investigating": 15}'
    service_level_days: dict[str, int] = {}
    # Received events are evaluated by a thread of the service, or by `fangpin evaluate
    # --follow` in a process of its own (several API workers, or a busy county).
    evaluate_events: Literal["in_process", "separately"] = "in_process"
    # Where `fangpin train` writes the risk model (model.skops, metadata.json, MODEL_CARD.md).
    model_dir: str = "var/model"
    # The county's time zone: every business date (claims.clock), the night a scoring run
    # belongs to, and when the scheduler runs.
    timezone: str = "Asia/Shanghai"
    # The nightly risk scoring (`fangpin scheduler`, or a thread of the service when
    # FANGPIN_SCHEDULER=in_process): its time, and what raises an early warning — a score at
    # or above the threshold, or a rise of at least `risk_rise` since the previous run.
    scheduler: Literal["in_process", "separately"] = "separately"
    score_time: str = Field(default="02:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    risk_threshold: float = Field(default=0.5, gt=0, lt=1)
    risk_rise: float = Field(default=0.25, gt=0, lt=1)
    score_chunk: int = Field(default=50_000, ge=100)
    # Where the nightly jobs compute: this process, or a Dask cluster (the scheduler at
    # `dask_address`, or a local cluster of `dask_workers` processes when it is empty).
    score_engine: Literal["process", "dask"] = "process"
    dask_address: str = ""
    dask_workers: int = Field(default=2, ge=1, le=256)
    # The web workspace: minutes without a request after which a signed-in browser must sign
    # in again.
    session_idle_minutes: int = Field(default=30, ge=1)
    # ... and hours after signing in after which it must, however busy it has been.
    session_max_hours: int = Field(default=12, ge=1)
    # Mark the session cookie Secure even when the request arrives as http (TLS ends at a
    # proxy that does not forward the scheme).
    cookie_secure: bool = False
    # Complete runs whose scores are kept (older runs keep their record, not their scores).
    keep_score_runs: int = Field(default=7, ge=2)
    # A household's bank account changed this many days or fewer before a payment batch is
    # flagged on the batch for the supervisor (the one edit that can redirect a payout).
    bank_change_flag_days: int = Field(default=30, ge=0, le=3650)
    # The key that signs the audit chain's head (claims.anchors): kept outside the database,
    # given itself or as a file holding it; and where signed heads are appended (empty: to
    # the log only — they are always logged too).
    # Printed documents (claims.printed): the telephone for objections printed on the
    # rejection notice and the village notice (empty: a line to fill in by hand), the days
    # after a rejection in which the household may object (the deadline on the rejection
    # notice; the reconsideration itself is a supervisor's step without a time limit), and
    # who issues the village notice (empty: the village committee).
    objection_phone: str = Field(default="", max_length=40)
    objection_days: int = Field(default=30, ge=1, le=365)
    notice_issuer: str = Field(default="", max_length=100)
    audit_key: SecretStr = SecretStr("development-only-audit-key")
    audit_key_file: str = ""
    audit_anchor_file: str = "var/audit-anchors.jsonl"
    # Documents (claims.documents): where files are kept — a directory (`documents_dir`), or
    # S3-compatible object storage (`documents_store=s3` with the bucket, endpoint, region and
    # keys below; an empty key uses the environment's AWS credentials) — and the limits of
    # one upload: bytes per file and files at once.
    documents_store: Literal["local", "s3"] = "local"
    documents_dir: str = "var/documents"
    documents_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    documents_max_files: int = Field(default=20, ge=1, le=200)
    # The largest body of a request that is not a file upload: a batch of 10,000 events is
    # about 5 MB, and 60 MB with a detail of 1,000 Chinese characters each, escaped as JSON
    # may (a re-tester's); uploads are limited by the file limits (claims.app.BodyLimit).
    max_body_bytes: int = Field(default=128 * 1024 * 1024, ge=64 * 1024)
    s3_bucket: str = ""
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_prefix: str = "documents/"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")

    @field_validator("database_url")
    @classmethod
    def _usable_database(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL; write e.g. sqlite:////var/lib/fangpin/"
                             "fangpin.db or postgresql://user@host/fangpin") from None
        backend, _, driver = url.drivername.partition("+")
        if backend == "sqlite":
            if driver not in ("", "pysqlite"):
                raise ValueError("fangpin opens SQLite with Python's own driver: write "
                                 "sqlite:///PATH")
            if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
                raise ValueError("a database in memory is gone when the command ends, and "
                                 "the service's processes do not share it; give a file, e.g. "
                                 "sqlite:///var/fangpin.db")
        elif backend in ("postgresql", "postgres"):
            if driver not in ("", "psycopg"):
                raise ValueError("fangpin talks to PostgreSQL through psycopg 3: write "
                                 "postgresql://… or postgresql+psycopg://…")
        else:
            raise ValueError("fangpin keeps its data in SQLite or PostgreSQL: write "
                             "sqlite:///PATH or postgresql://user@host/database")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("no such time zone; give one like Asia/Shanghai") from None
        return value

    @model_validator(mode="after")
    def _real_secret_outside_development(self):
        secret = self.secret_key.get_secret_value()
        if self.environment == "production" and (secret in PLACEHOLDER_SECRETS or len(secret) < 32):
            raise ValueError(
                "FANGPIN_SECRET_KEY is a placeholder or shorter than 32 characters; set a "
                "random secret (python -c 'import secrets; print(secrets.token_urlsafe(48))') "
                "or run with FANGPIN_ENVIRONMENT=development"
            )
        if self.environment == "production" and not self.audit_key_file and (
                self.audit_key.get_secret_value() in PLACEHOLDER_SECRETS | {
                    "development-only-audit-key"} or len(self.audit_key.get_secret_value()) < 32):
            raise ValueError(
                "FANGPIN_AUDIT_KEY is a placeholder or shorter than 32 characters; set a random "
                "key of its own (or FANGPIN_AUDIT_KEY_FILE), kept away from the database")
        if self.documents_store == "s3" and not self.s3_bucket:
            raise ValueError("FANGPIN_DOCUMENTS_STORE=s3 needs FANGPIN_S3_BUCKET (and "
                             "FANGPIN_S3_ENDPOINT for storage other than Amazon's)")
        return self

    def audit_signing_key(self) -> bytes:
        """The audit head's signing key: the key file's content, else FANGPIN_AUDIT_KEY."""
        if self.audit_key_file:
            try:
                key = Path(self.audit_key_file).read_bytes().strip()
            except OSError as exc:
                raise ValueError(f"FANGPIN_AUDIT_KEY_FILE {self.audit_key_file}: "
                                 f"{exc.strerror}") from None
            if not key:
                raise ValueError(f"FANGPIN_AUDIT_KEY_FILE {self.audit_key_file} is empty")
            return key
        return self.audit_key.get_secret_value().encode()


class InvalidSettings(Exception):
    """Settings fangpin cannot run with: ``problems`` names each setting and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _problem(error: Any) -> str:
    """One refused setting as the operator wrote it: its variable, its value (never a
    secret's) and the reason."""
    reason = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # a rule between settings, whose reason names them
        return reason
    name = str(error["loc"][0])
    if name not in Settings.model_fields:  # an import limit (policies.limits.ImportLimits)
        return f"FANGPIN_IMPORT_{name.upper()}={error['input']!r}: {reason}"
    if Settings.model_fields[name].annotation is SecretStr:
        return f"FANGPIN_{name.upper()}: {reason}"
    value = error["input"]
    if name == "database_url":  # its password is a secret
        try:
            url = make_url(value)
            if url.password is not None:
                value = url.render_as_string(hide_password=True)
        except ArgumentError:
            pass
    return f"FANGPIN_{name.upper()}={value!r}: {reason}"


# Variables of fangpin's that are not settings: the tests' and the benchmarks' own.
NOT_SETTINGS = ("FANGPIN_TEST_", "FANGPIN_REQUIRE_", "FANGPIN_DIFFERENTIAL_",
                "FANGPIN_SCHEMATHESIS_", "FANGPIN_SOAK_", "FANGPIN_SCREENSHOTS",
                "FANGPIN_IMPORT_")  # the import limits: policies.limits.ImportLimits


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """FANGPIN_ variables that name no setting: a misspelt one (FANGPIN_ENVIROMENT) had been
    ignored in silence, and the service ran in development with the placeholder audit key
    (an operator's)."""
    known = {f"FANGPIN_{name.upper()}" for name in Settings.model_fields}
    return sorted(name for name in environ if name.upper().startswith("FANGPIN_")
                  and name.upper() not in known and not name.upper().startswith(NOT_SETTINGS))


@lru_cache
def get_settings() -> Settings:
    try:
        settings = Settings()
        ImportLimits()  # read where files are read; refused here, at the start, in words
    except ValidationError as exc:
        raise InvalidSettings([_problem(error) for error in exc.errors()]) from None
    except SettingsError as exc:  # a value that is not the JSON its setting takes
        field = str(exc).partition('field "')[2].partition('"')[0]
        raise InvalidSettings([f"FANGPIN_{field.upper()}: not valid JSON (e.g. "
                               '\'{"investigating": 15}\')']) from None
    for name in unknown_variables(os.environ):  # at the start, before any log is set up
        print(f"warning: {name} names no setting of fangpin's: it is ignored (misspelt?)",
              file=sys.stderr)
    return settings
