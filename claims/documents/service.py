"""Documents on claims and events: add, list, open (view or download, each on the audit
trail), withdraw, and the check of the store against the table. Access is claims.access's:
a document is seen by whoever may see its claim (or its event's household)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from claims import access, audit, masking
from claims.auth import Actor, Forbidden
from claims.documents import sniff, storage
from claims.documents.models import Document
from claims.models import Claim, Household, Role, TriggerEvent
from claims.settings import get_settings
from policies.errors import InvalidInput, NotFound
from policies.models import utcnow
from policies.vocab import DocumentType

# Who adds and withdraws documents on a claim (every staff member reads them).
WRITERS = frozenset({Role.clerk, Role.investigator, Role.adjudicator, Role.supervisor,
                     Role.admin})
# Why a file or an upload is refused: a code with values, rendered in the user's language.
REFUSALS = {
    "type": "{file}: not an accepted kind of file (read from its content: {found}); "
            "accepted: {accepted}",
    "empty": "{file}: the file is empty",
    "size": "{file}: {size:,} bytes is over the limit of {limit:,} bytes per file "
            "(FANGPIN_DOCUMENTS_MAX_BYTES)",
    "count": "{count} files at once is over the limit of {limit} (FANGPIN_DOCUMENTS_MAX_FILES)",
    "none": "choose at least one file",
    "reason": "give the reason the document is withdrawn",
    "doc_type": "{value!r} is not a kind of document; kinds: {kinds}",
    "withdrawn": "document {id} was withdrawn already",
}


class DocumentRefused(InvalidInput):
    """A refused upload or withdrawal: ``code`` (a key of REFUSALS) and its values."""

    def __init__(self, code: str, field: str, **values: Any) -> None:
        super().__init__(REFUSALS[code].format(**values), field=field,
                         value=values.get("file"))
        self.code, self.values = code, values


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes  # read to one byte past the limit at most
    size: int | None = None  # the whole file's, when the reader knows it


def limits() -> tuple[int, int]:
    """Bytes per file and files per upload (FANGPIN_DOCUMENTS_MAX_BYTES, _MAX_FILES)."""
    settings = get_settings()
    return settings.documents_max_bytes, settings.documents_max_files


def _what(data: bytes) -> str:
    return data[:8].hex(" ") if data else "nothing"


def checked(uploads: list[Upload]) -> list[sniff.FileType]:
    """Each file's type from its content; the whole upload is refused, naming the first
    file at fault, when one is empty, too big or not an accepted kind."""
    max_bytes, max_files = limits()
    if not uploads:
        raise DocumentRefused("none", "files")
    if len(uploads) > max_files:
        raise DocumentRefused("count", "files", count=len(uploads), limit=max_files)
    types = []
    for upload in uploads:
        if not upload.data:
            raise DocumentRefused("empty", "files", file=upload.filename)
        if len(upload.data) > max_bytes:
            raise DocumentRefused("size", "files", file=upload.filename,
                                  size=max(upload.size or 0, len(upload.data)),
                                  limit=max_bytes)
        found = sniff.sniff(upload.data)
        if found is None:
            raise DocumentRefused("type", "files", file=upload.filename,
                                  found=_what(upload.data), accepted=sniff.ACCEPTED)
        types.append(found)
    return types


def _clean_name(name: str) -> str:
    """The uploaded name as shown and offered on download: no path, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    return (base or "document")[:255]


def document_type(value: str | None) -> str | None:
    """A kind of document (policies.vocab.DocumentType) or none; anything else refused."""
    if not value:
        return None
    if value not in set(DocumentType):
        raise DocumentRefused("doc_type", "doc_type", value=value,
                              kinds=", ".join(DocumentType))
    return value


def _add(session: Session, actor: Actor, uploads: list[Upload], *, claim: Claim | None,
         event: TriggerEvent | None, doc_type: str | None = None) -> list[Document]:
    doc_type = document_type(doc_type)
    types = checked(uploads)
    store, added = storage.current(), []
    for upload, found in zip(uploads, types, strict=True):
        now = utcnow()
        key = storage.new_key(now)
        store.put(key, upload.data)  # before the row: a row never names a file not stored
        storage.stored_in(session, store, key)
        document = Document(
            claim_id=claim.id if claim else None, event_id=event.id if event else None,
            filename=_clean_name(upload.filename), content_type=found.content_type,
            kind=found.kind, doc_type=doc_type, size=len(upload.data),
            sha256=hashlib.sha256(upload.data).hexdigest(), storage_key=key,
            added_by=actor.label, added_at=now)
        session.add(document)
        session.flush()
        audit.record(session, actor, "document", document.id, "add", after={
            "claim": claim.claim_number if claim else None,
            "event": event.source_event_id if event else None,
            "filename": document.filename, "content_type": document.content_type,
            "doc_type": doc_type, "size": document.size, "sha256": document.sha256})
        added.append(document)
    return added


def add_to_claim(session: Session, actor: Actor, claim_id: int,
                 uploads: list[Upload], doc_type: str | None = None) -> list[Document]:
    """Add files to a claim of the actor's area; each stored, then on the audit trail with
    its SHA-256. Flushes; the caller commits (an uncommitted upload's files are removed)."""
    access.require_role(actor, WRITERS)
    claim = access.claim(session, actor, claim_id)
    return _add(session, actor, uploads, claim=claim, event=None, doc_type=doc_type)


def add_to_event(session: Session, actor: Actor, source_event_id: str,
                 uploads: list[Upload], doc_type: str | None = None) -> list[Document]:
    """A department adds files to an event it submitted (by its own event id)."""
    if actor.kind != "client":
        raise Forbidden("documents of an event are sent with the department's API key",
                        field="authorization")
    event = session.exec(select(TriggerEvent).where(
        TriggerEvent.client_id == actor.id,
        TriggerEvent.source_event_id == source_event_id)).first()
    if event is None:
        raise NotFound(f"you submitted no event {source_event_id}", field="event_id",
                       value=source_event_id)
    return _add(session, actor, uploads, claim=None, event=event, doc_type=doc_type)


def of_claim(session: Session, actor: Actor, claim_id: int) -> list[Document]:
    """A claim's documents, oldest first: its own and those of the events that joined it,
    withdrawn ones too (they stay in the history)."""
    claim = access.claim(session, actor, claim_id)
    return list(session.exec(select(Document).where(sa.or_(
        Document.claim_id == claim.id,
        Document.event_id.in_(select(TriggerEvent.id).where(
            TriggerEvent.claim_id == claim.id)))).order_by(Document.id)).all())


def of_event(session: Session, actor: Actor, source_event_id: str) -> list[Document]:
    """The documents a department sent with one of its events."""
    event = session.exec(select(TriggerEvent).where(
        TriggerEvent.client_id == actor.id,
        TriggerEvent.source_event_id == source_event_id)).first()
    if actor.kind != "client" or event is None:
        raise NotFound(f"you submitted no event {source_event_id}", field="event_id",
                       value=source_event_id)
    return list(session.exec(select(Document).where(Document.event_id == event.id)
                             .order_by(Document.id)).all())


def document(session: Session, actor: Actor, document_id: int) -> Document:
    """A document the actor may see: its claim's (or its event's household) in the actor's
    area; otherwise, as a missing one, 404. A department sees only its own events' files."""
    found = session.get(Document, document_id)
    if found is not None and actor.kind == "client":
        event = session.get(TriggerEvent, found.event_id) if found.event_id else None
        if event is None or event.client_id != actor.id:
            found = None
    elif found is not None:
        access.require_role(actor, set(Role))
        try:
            _household_of(session, actor, found)
        except NotFound:
            found = None
    if found is None:
        where = " or is not in your area" if access.limited(actor) else ""
        raise NotFound(f"document {document_id} does not exist{where}", field="document_id",
                       value=document_id)
    return found


def _household_of(session: Session, actor: Actor, found: Document) -> Household | None:
    """The household a document is about, checked against the actor's area."""
    claim_id = found.claim_id
    event = session.get(TriggerEvent, found.event_id) if found.event_id else None
    if claim_id is None and event is not None:
        claim_id = event.claim_id
    if claim_id is not None:
        claim = access.claim(session, actor, claim_id)
        return session.get(Household, claim.household_id)
    if event is not None and event.household_id is not None:
        return access.household(session, actor, event.household_id)
    access.require_county(actor, "a document of an event matched to no household")
    return None


def _numbers(session: Session, found: Document) -> dict[str, Any]:
    claim_number = None
    if found.claim_id is not None:
        claim_number = session.get(Claim, found.claim_id).claim_number
    household = None
    event = session.get(TriggerEvent, found.event_id) if found.event_id else None
    if event is not None and event.claim_id is not None and claim_number is None:
        claim_number = session.get(Claim, event.claim_id).claim_number
    if found.claim_id is not None:
        household = session.exec(select(Household.household_number).join(
            Claim, Claim.household_id == Household.id).where(
            Claim.id == found.claim_id)).first()
    return {"claim": claim_number, "household": household,
            "event": event.source_event_id if event else None}


HOW = ("view", "download", "thumbnail")


def open_file(session: Session, actor: Actor, document_id: int, how: str
              ) -> tuple[Document, bytes]:
    """A document's bytes, for a view, a download or a thumbnail: each on the audit trail
    like a reveal of personal data (who, which document, of which claim and household)."""
    if how not in HOW:
        raise InvalidInput(f"how is one of {', '.join(HOW)}", field="how", value=how)
    found = document(session, actor, document_id)
    try:
        data = storage.current().get(found.storage_key)
    except FileNotFoundError:
        raise NotFound(f"the file of document {document_id} is missing from the document "
                       "store; `fangpin documents check` lists such rows",
                       field="document_id", value=document_id) from None
    audit.record(session, actor, "document", found.id, how, after={
        **_numbers(session, found), "filename": found.filename, "sha256": found.sha256})
    return found, data


def withdraw(session: Session, actor: Actor, document_id: int, reason: str) -> Document:
    """Withdraw a wrong document with a reason: it stays, marked, with who and when."""
    access.require_role(actor, WRITERS)
    found = document(session, actor, document_id)
    if not reason.strip():
        raise DocumentRefused("reason", "reason")
    if found.withdrawn_at is not None:
        raise DocumentRefused("withdrawn", "document_id", id=document_id)
    found.withdrawn_at, found.withdrawn_by = utcnow(), actor.label
    found.withdrawn_reason = reason.strip()[:500]
    session.add(found)
    session.flush()
    audit.record(session, actor, "document", found.id, "withdraw", reason=found.withdrawn_reason,
                 before={"withdrawn": False}, after={"withdrawn": True,
                                                     **_numbers(session, found)})
    return found


def shown(found: Document) -> dict[str, str]:
    """A document's name and why it was withdrawn, as every reader sees them (the claim page,
    the API, a download's name): any ID number, card or mobile number in them masked, as on
    the claim's records (a scan is often named after its owner's ID number)."""
    return masking.typed(found)


def public(found: Document) -> dict[str, Any]:
    """A document as the API shows it (no storage key), the withdrawal's reason masked."""
    return {"id": found.id, "claim_id": found.claim_id, "event_id": found.event_id,
            "content_type": found.content_type,
            "kind": found.kind, "doc_type": found.doc_type, "size": found.size,
            "sha256": found.sha256,
            "added_by": found.added_by, "added_at": found.added_at,
            "withdrawn": found.withdrawn_at is not None, "withdrawn_at": found.withdrawn_at,
            "withdrawn_by": found.withdrawn_by, **shown(found)}


# --- the store against the table ----------------------------------------------------------------

@dataclass
class CheckReport:
    where: str
    rows: int = 0
    files: int = 0
    missing: list[tuple[int, str]] = field(default_factory=list)  # (document id, key)
    wrong_size: list[tuple[int, str, int, int]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # files without a row
    removed: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not (self.missing or self.wrong_size)


def check(session: Session, store: storage.Store, *, remove_orphans: bool = False,
          older_than: timedelta = timedelta(hours=1),
          now: datetime | None = None) -> CheckReport:
    """Compare the store with the table: rows whose file is missing or of another size, and
    files without a row (an upload whose transaction never committed). With
    ``remove_orphans``, such files older than ``older_than`` are deleted (a younger one may
    belong to an upload still under way)."""
    report = CheckReport(store.where)
    rows: dict[str, tuple[int, int]] = {
        key: (id_, size) for id_, key, size in session.execute(
            select(Document.id, Document.storage_key, Document.size)).all()}
    report.rows = len(rows)
    cutoff = (now or utcnow()) - older_than
    seen: set[str] = set()
    for listed in store.listing():
        report.files += 1
        row = rows.get(listed.key)
        if row is None:
            report.orphans.append(listed.key)
            if remove_orphans and listed.last_modified < cutoff:
                store.delete(listed.key)
                report.removed.append(listed.key)
            continue
        seen.add(listed.key)
        if row[1] != listed.size:
            report.wrong_size.append((row[0], listed.key, row[1], listed.size))
    report.missing = sorted((id_, key) for key, (id_, _) in rows.items() if key not in seen)
    return report


def summary(report: CheckReport) -> Iterable[str]:
    """The check's findings as lines for the command line."""
    yield (f"{report.where}: {report.rows:,} document rows, {report.files:,} files")
    for id_, key in report.missing:
        yield f"MISSING  document {id_}: no file {key}"
    for id_, key, expected, found in report.wrong_size:
        yield f"ALTERED  document {id_}: {key} holds {found:,} bytes, the row says {expected:,}"
    for key in report.orphans:
        yield (f"REMOVED  {key}: a file without a row" if key in report.removed
               else f"ORPHAN   {key}: a file without a row")
    yield ("sound: every row has its file" if report.sound else
           f"NOT SOUND: {len(report.missing)} rows without a file, "
           f"{len(report.wrong_size)} files of another size")
