"""The documents of a claim in the workspace (理赔材料): the list on the claim page with
thumbnails, the upload form (several files at once, or a photo from the phone's camera),
view, download and withdrawal. Every view, thumbnail and download is on the audit trail."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from claims.api.deps import SessionDep
from claims.api.documents import file_response, read_files
from claims.documents import requirements, service, sniff
from claims.people import names_of
from claims.web.i18n import N_
from claims.web.pages import (
    PageError,
    User,
    came_from_here,
    check_csrf,
    gate,
    need_role,
    text_for,
)

router = APIRouter(include_in_schema=False)
NO_DOCUMENT = N_("No such document, or not in your area.")
NO_CLAIM = N_("No such claim, or not in your area.")
# Why a file or an upload was refused (service.REFUSALS), in words for the page.
REFUSED = {
    "type": N_("%(file)s is not an accepted kind of file (its content is none of: "
               "%(accepted)s). Nothing was added."),
    "empty": N_("%(file)s is empty. Nothing was added."),
    "size": N_("%(file)s is %(size)s bytes, over the limit of %(limit)s bytes per file. "
               "Nothing was added."),
    "count": N_("%(count)s files at once is over the limit of %(limit)s. Nothing was added."),
    "none": N_("Choose at least one file or take a photo."),
    "reason": N_("Give the reason the document is withdrawn."),
    "withdrawn": N_("This document was withdrawn already."),
    "doc_type": N_("Choose what the files are from the list."),
}
THUMBNAIL = 240  # pixels, the longer side


def _refused(request: Request, error: service.DocumentRefused) -> PageError:
    values = {k: (f"{v:,}" if isinstance(v, int) else v) for k, v in error.values.items()}
    return PageError(422, text_for(request, REFUSED[error.code]) % values)


def _guarded(request: Request, check):
    """A service call whose refusal of a file or a reason is said in the page's words."""
    def run():
        try:
            return check()
        except service.DocumentRefused as refused:
            raise _refused(request, refused) from None
    return run


def document_rows(session, user, claim_id: int) -> list[dict]:
    """The claim's documents as its page lists them (for the claim page and this module)."""
    return [{"document": d, "inline": d.kind in ("image", "pdf"),
             **service.shown(d),
             "thumbnail": d.kind == "image" and d.content_type != sniff.HEIC.content_type}
            for d in service.of_claim(session, user.actor, claim_id)]


def upload_form(user) -> dict | None:
    """What the upload form offers (None when the user's role adds no documents)."""
    if user.user.role not in service.WRITERS:
        return None
    max_bytes, max_files = service.limits()
    return {"accept": sniff.ACCEPT_ATTRIBUTE, "max_mb": f"{max_bytes / 1024 / 1024:,.0f}",
            "max_files": max_files, "accepted": sniff.ACCEPTED}


def section(session, user, claim, language: str) -> dict:
    """The claim page's documents: the list, the upload form, the checklist of the documents
    the terms require (with the waiver form for a supervisor), and who acted by name."""
    items = requirements.checklist(session, claim)
    rows = document_rows(session, user, claim.id)
    labels = [*(i.waiver["by"] for i in items if i.waiver),
              *(who for row in rows for who in (row["document"].added_by,
                                                row["document"].withdrawn_by))]
    return {"rows": rows, "form": upload_form(user), "people": names_of(session, labels),
            "checklist": items, "missing": [i.doc_type for i in items if not i.satisfied],
            "labels": requirements.labels(language),
            "may_waive": user.user.role in requirements.WAIVERS}


@router.post("/claims/{claim_id}/documents")
def upload(request: Request, session: SessionDep, user: User, claim_id: int,
           files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 (FastAPI copies it)
           doc_type: Annotated[str, Form(max_length=32)] = "",
           csrf_token: Annotated[str, Form()] = ""):
    check_csrf(request, user, csrf_token)
    need_role(request, user, *service.WRITERS)
    uploads = _guarded(request, lambda: read_files(files))()
    gate(request, _guarded(request, lambda: service.add_to_claim(
        session, user.actor, claim_id, uploads, doc_type)), NO_CLAIM)
    session.commit()
    return RedirectResponse(f"/claims/{claim_id}?added={len(uploads)}#documents",
                            status_code=303)


def _open(request: Request, session, user, document_id: int, how: str):
    found, data = gate(request, lambda: service.open_file(session, user.actor, document_id,
                                                          how), NO_DOCUMENT)
    session.commit()
    return found, data


@router.get("/documents/{document_id}", dependencies=[Depends(came_from_here)])
def view(request: Request, session: SessionDep, user: User, document_id: int):
    """The document in the browser (an image, or a PDF in its viewer); other kinds download."""
    found = gate(request, lambda: service.document(session, user.actor, document_id),
                 NO_DOCUMENT)
    inline = found.kind in ("image", "pdf")
    found, data = _open(request, session, user, document_id, "view" if inline else "download")
    return file_response(found, data, inline=inline)


@router.get("/documents/{document_id}/download", dependencies=[Depends(came_from_here)])
def download(request: Request, session: SessionDep, user: User, document_id: int):
    found, data = _open(request, session, user, document_id, "download")
    return file_response(found, data, inline=False)


@router.get("/documents/{document_id}/thumbnail", dependencies=[Depends(came_from_here)])
def thumbnail(request: Request, session: SessionDep, user: User, document_id: int):
    """A small JPEG of an image document (a view of it, on the audit trail)."""
    found = gate(request, lambda: service.document(session, user.actor, document_id),
                 NO_DOCUMENT)
    if found.kind != "image" or found.content_type == sniff.HEIC.content_type:
        raise PageError(404, text_for(request, NO_DOCUMENT))  # no thumbnail: nothing opened
    found, data = _open(request, session, user, document_id, "thumbnail")
    small = _thumbnail(data)
    if small is None:
        raise PageError(404, text_for(request, NO_DOCUMENT))
    return Response(small, media_type="image/jpeg", headers={
        "Cache-Control": "private, no-store"})


# The most pixels an image is decoded for its thumbnail (a 48-megapixel photo; a JPEG is
# decoded at an eighth of its size): beyond, the page shows no thumbnail, the file is kept.
THUMBNAIL_SOURCE_PIXELS = 48_000_000


def _thumbnail(data: bytes) -> bytes | None:
    """A JPEG at most THUMBNAIL pixels on its longer side, turned as the camera held it;
    None when the image cannot be read (HEIC, a damaged file) or is too large to decode."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (THUMBNAIL, THUMBNAIL))  # a JPEG decodes at 1/2..1/8 size
            if image.size[0] * image.size[1] > THUMBNAIL_SOURCE_PIXELS:
                return None  # decoded whole, a 12,000 × 12,000 PNG took 1.6 GB
            small = ImageOps.exif_transpose(image).convert("RGB")
            small.thumbnail((THUMBNAIL, THUMBNAIL))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=80)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


@router.post("/documents/{document_id}/withdraw")
def withdraw(request: Request, session: SessionDep, user: User, document_id: int,
             reason: Annotated[str, Form(max_length=500)] = "",
             csrf_token: Annotated[str, Form()] = ""):
    check_csrf(request, user, csrf_token)
    need_role(request, user, *service.WRITERS)
    found = gate(request, _guarded(request, lambda: service.withdraw(
        session, user.actor, document_id, reason)), NO_DOCUMENT)
    claim_id = found.claim_id
    session.commit()
    if claim_id is None:  # a department's document: its event's claim
        from claims.models import TriggerEvent

        claim_id = session.get(TriggerEvent, found.event_id).claim_id
    return RedirectResponse(f"/claims/{claim_id}#documents", status_code=303)


@router.post("/claims/{claim_id}/documents/waive")
def waive(request: Request, session: SessionDep, user: User, claim_id: int,
          document_type: Annotated[str, Form(max_length=32)] = "",
          reason: Annotated[str, Form(max_length=500)] = "",
          csrf_token: Annotated[str, Form()] = ""):
    """A supervisor waives a required document the claim lacks, with the reason."""
    check_csrf(request, user, csrf_token)
    need_role(request, user, *requirements.WAIVERS)
    gate(request, lambda: requirements.waive(session, user.actor, claim_id, document_type,
                                             reason), NO_CLAIM)
    session.commit()
    return RedirectResponse(f"/claims/{claim_id}#documents", status_code=303)
