"""The document store: a local directory (the default, under var/) or S3-compatible object
storage, both through obstore (the Rust object_store crate of Apache Arrow, behind one API for
a directory and for S3), chosen by FANGPIN_DOCUMENTS_STORE.

A file is written once under a key of its own (``put`` refuses an existing key, so nothing is
ever overwritten) before its row is flushed; if the transaction does not commit, the files it
stored are deleted again. A file whose row never committed (the process died in between) is
found, and removed, by ``fangpin documents check``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import obstore
from obstore.store import LocalStore, S3Store
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from claims.settings import Settings, get_settings
from policies.errors import DomainError

log = logging.getLogger("fangpin.documents")
PENDING = "fangpin.documents_stored"


class StoreUnavailable(DomainError):
    status_code = 503


@dataclass(frozen=True)
class Listed:
    key: str
    size: int
    last_modified: datetime


class Store:
    """One place documents are kept; ``where`` says which (for messages and the check)."""

    def __init__(self, backend, where: str) -> None:
        self.backend, self.where = backend, where

    def put(self, key: str, data: bytes) -> None:
        """Write a new file; an existing key is refused (never overwritten)."""
        try:
            obstore.put(self.backend, key, data, mode="create")
        except obstore.exceptions.AlreadyExistsError:
            raise DomainError(f"the document store already holds {key}; nothing was "
                              "overwritten", field="storage_key", value=key) from None
        except (OSError, obstore.exceptions.BaseError) as exc:
            raise StoreUnavailable(f"the document store ({self.where}) refused the file: "
                                   f"{str(exc).splitlines()[0]}", field="file") from None

    def get(self, key: str) -> bytes:
        """The file's bytes; FileNotFoundError when the store has no such file."""
        return bytes(obstore.get(self.backend, key).bytes())

    def delete(self, key: str) -> None:
        obstore.delete(self.backend, key)

    def listing(self) -> Iterator[Listed]:
        """Every file in the store, in pages of a thousand (as S3 lists them)."""
        for page in obstore.list(self.backend, chunk_size=1000):
            for meta in page:
                yield Listed(meta["path"], meta["size"], meta["last_modified"])


def new_key(now: datetime) -> str:
    """A key of its own for a new file: year/month/random (no two uploads share one)."""
    return f"{now:%Y/%m}/{uuid.uuid4().hex}"


def build(settings: Settings) -> Store:
    """The store the settings choose."""
    if settings.documents_store == "s3":
        backend = S3Store(
            settings.s3_bucket, prefix=settings.s3_prefix or None,
            endpoint=settings.s3_endpoint or None, region=settings.s3_region,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
            client_options={"allow_http": settings.s3_endpoint.startswith("http://")})
        return Store(backend, f"s3://{settings.s3_bucket}/{settings.s3_prefix}")
    directory = Path(settings.documents_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return Store(LocalStore(directory, mkdir=True), str(directory))


_configured: Store | None = None


def current() -> Store:
    """The service's store (built from the settings the first time)."""
    global _configured
    if _configured is None:
        _configured = build(get_settings())
    return _configured


def use(store: Store | None) -> None:
    """Use this store from now on (None: build it again from the settings)."""
    global _configured
    _configured = store


# --- a file stored, its row not committed -------------------------------------------------------

def stored_in(session: OrmSession, store: Store, key: str) -> None:
    """Remember a file written for this transaction: deleted again unless it commits."""
    session.info.setdefault(PENDING, []).append((store, key))


@event.listens_for(OrmSession, "after_commit")
def _kept(session: OrmSession) -> None:
    session.info.pop(PENDING, None)


@event.listens_for(OrmSession, "after_transaction_end")
def _clean_up(session: OrmSession, transaction) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    for store, key in session.info.pop(PENDING, None) or []:
        try:
            store.delete(key)
            log.info("document file %s removed: its row was not committed", key)
        except Exception:  # the check command finds it later
            log.exception("document file %s could not be removed; `fangpin documents "
                          "check --remove-orphans` will", key)
