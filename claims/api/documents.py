"""Documents over the API: staff add files to a claim, list, download and withdraw them;
a department adds files to an event it submitted. Every download is on the audit trail."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, File, Form, UploadFile
from fastapi.responses import Response

from claims.api.deps import SessionDep
from claims.auth import Actor, department, staff
from claims.documents import requirements, service, sniff
from claims.documents.models import Document
from claims.models import Role

router = APIRouter(prefix="/api", tags=["documents"])
Reader = Annotated[Actor, Depends(staff())]
Writer = Annotated[Actor, Depends(staff(Role.clerk, Role.investigator, Role.adjudicator,
                                        Role.supervisor))]
Department = Annotated[Actor, Depends(department)]
Supervisor = Annotated[Actor, Depends(staff(Role.supervisor))]
DocType = Annotated[str, Form(description=(
    "what the files are (one kind for the upload): invoice, discharge_summary, damage_photos, "
    "accident_report … (docs/documents.md); empty: not said"))]
Files = Annotated[list[UploadFile], File(description=(
    "one or more files: images, PDF or office files, recognised by their content"))]
# A document is served with a policy of its own: nothing in it runs, and only this site may
# frame it (a PDF is shown by the browser's viewer).
DOCUMENT_CSP = ("default-src 'none'; img-src 'self' data:; object-src 'self'; "
                "style-src 'unsafe-inline'; frame-ancestors 'self'")


def read_files(files: list[UploadFile]) -> list[service.Upload]:
    """The uploaded files' bytes, each read to one byte past the limit and no further.
    Blocking: call it from a thread."""
    max_bytes, max_files = service.limits()
    if len(files) > max_files:
        raise service.DocumentRefused("count", "files", count=len(files), limit=max_files)
    uploads = []
    for file in files:
        if not file.filename and not file.size:
            continue  # a form's file field left empty
        uploads.append(service.Upload(file.filename or "document",
                                      file.file.read(max_bytes + 1), file.size))
    return uploads


def file_response(found: Document, data: bytes, *, inline: bool,
                  media_type: str | None = None) -> Response:
    """A document's bytes: shown (images and PDF) or offered as a download under its name."""
    name = sniff.download_name(service.shown(found)["filename"], found.content_type)
    fallback = "".join(c if c.isascii() and c.isalnum() or c in "._-" else "_" for c in name)
    disposition = (f"{'inline' if inline else 'attachment'}; filename=\"{fallback}\"; "
                   f"filename*=UTF-8''{quote(name)}")
    return Response(data, media_type=media_type or found.content_type, headers={
        "Content-Disposition": disposition, "Cache-Control": "private, no-store",
        "Content-Security-Policy": DOCUMENT_CSP})


@router.post("/claims/{claim_id}/documents", status_code=201)
def add_claim_documents(claim_id: int, session: SessionDep, actor: Writer,
                        files: Files = [],  # noqa: B006 (FastAPI copies it)
                        doc_type: DocType = "") -> dict[str, Any]:
    """Add files to a claim: each checked by its content and size, stored once, its SHA-256
    on the audit trail. One file refused refuses the upload (the message names the file)."""
    added = service.add_to_claim(session, actor, claim_id, read_files(files), doc_type)
    session.commit()
    return {"data": [service.public(d) for d in added], "count": len(added)}


@router.get("/claims/{claim_id}/documents")
def list_claim_documents(claim_id: int, session: SessionDep, actor: Reader) -> dict[str, Any]:
    """A claim's documents and those of the events that joined it; withdrawn ones too."""
    found = service.of_claim(session, actor, claim_id)
    return {"data": [service.public(d) for d in found], "count": len(found)}


@router.get("/documents/{document_id}/content", response_class=Response, responses={
    200: {"description": "the file, as an attachment", "content": {
        "application/octet-stream": {}}}})
def download_document(document_id: int, session: SessionDep, actor: Reader) -> Response:
    """Download a document (on the audit trail, like a reveal of personal data)."""
    found, data = service.open_file(session, actor, document_id, "download")
    session.commit()
    return file_response(found, data, inline=False)


@router.post("/documents/{document_id}/withdraw")
def withdraw_document(document_id: int, session: SessionDep, actor: Writer,
                      reason: Annotated[str, Body(embed=True, max_length=500)] = ""
                      ) -> dict[str, Any]:
    """Withdraw a wrong document with the reason; it stays in the claim's history."""
    found = service.withdraw(session, actor, document_id, reason)
    session.commit()
    return service.public(found)


@router.post("/events/{source_event_id}/documents", status_code=201)
def add_event_documents(source_event_id: str, session: SessionDep, actor: Department,
                        files: Files = [],  # noqa: B006
                        doc_type: DocType = "") -> dict[str, Any]:
    """A department adds files to an event it submitted (by its own event id): the
    insurer's staff find them on the claim the event opened or joined."""
    added = service.add_to_event(session, actor, source_event_id, read_files(files), doc_type)
    session.commit()
    return {"data": [service.public(d) for d in added], "count": len(added)}


@router.get("/events/{source_event_id}/documents")
def list_event_documents(source_event_id: str, session: SessionDep,
                         actor: Department) -> dict[str, Any]:
    """The files a department sent with one of its events."""
    found = service.of_event(session, actor, source_event_id)
    return {"data": [service.public(d) for d in found], "count": len(found)}


@router.get("/claims/{claim_id}/required-documents")
def required_documents(claim_id: int, session: SessionDep, actor: Reader) -> dict[str, Any]:
    """The documents the claim's terms require for its trigger: each with the documents that
    meet it, or the supervisor's waiver; ``missing`` lists what still blocks the approval."""
    from claims import access

    claim = access.claim(session, actor, claim_id)
    items = requirements.checklist(session, claim)
    return {"data": [{"document_type": i.doc_type, "documents": i.documents,
                      "waiver": i.waiver, "satisfied": i.satisfied} for i in items],
            "missing": [i.doc_type for i in items if not i.satisfied]}


@router.post("/claims/{claim_id}/document-waivers", status_code=201)
def waive_document(claim_id: int, session: SessionDep, actor: Supervisor,
                   document_type: Annotated[str, Body(max_length=32)] = "",
                   reason: Annotated[str, Body(max_length=500)] = "") -> dict[str, Any]:
    """A supervisor waives one required document of a claim, with the reason (audited)."""
    record = requirements.waive(session, actor, claim_id, document_type, reason)
    session.commit()
    return {"claim_id": claim_id, **requirements.waiver(record)}
