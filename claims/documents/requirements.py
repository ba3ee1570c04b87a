"""The documents a claim needs (理赔材料清单): the terms in force name them per trigger
(``documents = [...]`` under ``[triggers.NAME]``); a claim is approved only when each is there
(a document of that kind, not withdrawn, on the claim or on an event that joined it) or a
supervisor has waived it with a reason, on the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from claims import access, audit, masking
from claims.auth import Actor, Forbidden
from claims.documents.models import Document
from claims.models import Claim, ClaimRecord, Role, TermsVersion, TriggerEvent
from policies import benefits
from policies.errors import InvalidInput
from policies.vocab import DocumentType

WAIVE = "waive_document"  # the claim record (and audit action) of a waiver
# A waiver is a claim's decision: administrators take no claim step (four eyes).
WAIVERS = frozenset({Role.supervisor})


@dataclass(frozen=True)
class Item:
    doc_type: str
    documents: list[int]  # ids of the claim's documents of this kind, not withdrawn
    waiver: dict[str, Any] | None  # {"reason", "by", "at"} when a supervisor waived it

    @property
    def satisfied(self) -> bool:
        return bool(self.documents) or self.waiver is not None


def required(session: Session, claim: Claim) -> tuple[str, ...]:
    """The kinds of document the claim's terms require for its trigger."""
    version = session.get(TermsVersion, claim.terms_version_id)
    if version is None:
        return ()
    trigger = benefits.terms_of(version).triggers.get(claim.trigger)
    return tuple(str(d) for d in trigger.documents) if trigger else ()


def checklist(session: Session, claim: Claim) -> list[Item]:
    """Each required kind with the documents that meet it, or its waiver."""
    needed = required(session, claim)
    if not needed:
        return []
    present: dict[str, list[int]] = {}
    for id_, doc_type in session.execute(select(Document.id, Document.doc_type).where(
            Document.withdrawn_at.is_(None), sa.or_(
                Document.claim_id == claim.id,
                Document.event_id.in_(select(TriggerEvent.id).where(
                    TriggerEvent.claim_id == claim.id)))).order_by(Document.id)).all():
        present.setdefault(doc_type, []).append(id_)
    waivers = {}
    for record in session.exec(select(ClaimRecord).where(
            ClaimRecord.claim_id == claim.id, ClaimRecord.kind == WAIVE)
            .order_by(ClaimRecord.id)):
        shown = waiver(record)
        waivers[shown["document_type"]] = {k: shown.get(k) for k in ("reason", "by", "at")}
    return [Item(d, present.get(d, []), waivers.get(d)) for d in needed]


def waiver(record: ClaimRecord) -> dict[str, Any]:
    """A waiver as its readers see it (the page, the API): the kind, the reason with any ID
    number in it masked, as on the claim's step records (lifecycle.records), who and when."""
    return {**masking.typed(record)["data"], "at": record.created_at}


def missing(session: Session, claim: Claim) -> list[str]:
    """The required kinds neither present nor waived."""
    return [item.doc_type for item in checklist(session, claim) if not item.satisfied]


def waive(session: Session, actor: Actor, claim_id: int, doc_type: str,
          reason: str) -> ClaimRecord:
    """A supervisor waives one required document of a claim, with the reason; recorded on
    the claim and on the audit trail. Flushes."""
    if actor.kind != "user" or actor.role not in WAIVERS:
        raise Forbidden("only a supervisor waives a required document", field="role",
                        value=actor.role)
    claim = access.claim(session, actor, claim_id, lock=True)
    needed = required(session, claim)
    if doc_type not in needed:
        raise InvalidInput(f"{doc_type!r} is not a document this claim's terms require; "
                           f"they require: {', '.join(needed) or 'none'}",
                           field="document_type", value=doc_type,
                           code="not_required" if needed else "nothing_required",
                           values={"document": doc_type, "required": needed})
    if not reason.strip():
        raise InvalidInput("give the reason the document is waived", field="reason",
                           code="waiver_reason")
    if any(i.doc_type == doc_type and i.waiver for i in checklist(session, claim)):
        raise InvalidInput(f"{doc_type} is waived already", field="document_type",
                           value=doc_type, code="waived_already", values={"document": doc_type})
    record = ClaimRecord(claim_id=claim.id, kind=WAIVE, actor_id=actor.id, data={
        "document_type": doc_type, "reason": reason.strip()[:500], "by": actor.label})
    session.add(record)
    session.flush()
    audit.record(session, actor, "claim", claim.claim_number, WAIVE,
                 reason=reason.strip()[:500], after={"document_type": doc_type})
    return record


def labels(language: str) -> dict[str, str]:
    """The kinds' names: Chinese labels, or the codes in words."""
    if language == "zh":
        return {d.value: d.label for d in DocumentType}
    return {d.value: d.value.replace("_", " ") for d in DocumentType}
