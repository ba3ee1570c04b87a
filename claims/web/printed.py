"""Printed documents (打印文书): the payout notice (理赔通知书) and the rejection notice
(拒赔通知书) of a claim, and the formal village notice (公示), each as a print page (HTML with
print CSS, A4) and as a PDF made by WeasyPrint with the system's Chinese fonts (nothing is
fetched at run time: a missing CJK font is said, never papered over). Access, masking and the
audit trail are claims.printed's (the service); this module words and lays them out."""

from __future__ import annotations

import logging
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from claims import printed
from claims.api.deps import SessionDep
from claims.web.i18n import N_, code_label, environment, translator
from claims.web.pages import (
    PageError,
    User,
    came_from_here,
    gate,
    language_of,
    render,
    text_for,
)

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

STYLESHEET = Path(__file__).resolve().parents[2] / "templates" / "static" / "printed.css"
# The Chinese fonts the documents are set in, in order of preference (printed.css names the
# same): Debian's and Ubuntu's fonts-noto-cjk, then Adobe's names for the same faces.
CJK_FAMILIES = ("Noto Serif CJK SC", "Noto Sans CJK SC", "Source Han Serif SC",
                "Source Han Sans SC")

NO_SUCH_CLAIM = N_("No such claim, or not in your area.")
NO_SUCH_VILLAGE = N_("No such village, or not in your area.")
NO_CJK_FONT = N_("The PDF cannot be made: no Chinese font is installed on the server. An "
                 "administrator must install one (Debian and Ubuntu: apt-get install "
                 "fonts-noto-cjk). The print page can be printed from the browser meanwhile.")
NOT_PRINTABLE = {
    "payout_notice": N_("A payout notice is printed for an approved or paid claim; this claim "
                        "is %(state)s."),
    "rejection_notice": N_("A rejection notice is printed for a rejected claim; this claim is "
                           "%(state)s."),
}
TITLES = {"payout_notice": N_("Payout notice"), "rejection_notice": N_("Rejection notice"),
          "village_notice": N_("Public notice")}
# Each rejection code of claims.lifecycle.REJECTION_CODES in plain words for the household.
REASONS = {
    "not_covered": N_("Your household, or the hardship it met, is not covered by this year's "
                      "policy."),
    "not_eligible": N_("Your household does not meet the conditions of the policy (such as "
                       "the kind of household or the income limit)."),
    "below_deductible": N_("The costs left to your household are not above the part the "
                           "policy leaves to the household (the deductible)."),
    "duplicate": N_("The same loss has already been claimed."),
    "false_information": N_("What was stated for the claim was found not to be true."),
    "village_review": N_("The villagers' representatives did not agree to the claim at the "
                         "village review."),
    "other": N_("For the reason given below."),
}


# --- the fonts ----------------------------------------------------------------------------------

@cache
def cjk_font() -> str | None:
    """The first of CJK_FAMILIES that fontconfig knows on this machine, or None (also when
    WeasyPrint cannot load Pango or fontconfig at all: the log says which)."""
    try:
        from weasyprint.text.ffi import ffi, fontconfig
    except (ImportError, OSError) as missing:
        log.error("WeasyPrint cannot start (%s): install libpango-1.0-0 and fonts-noto-cjk",
                  missing)
        return None

    config = fontconfig.FcInitLoadConfigAndFonts()
    try:
        fonts = fontconfig.FcConfigGetFonts(config, fontconfig.FcSetSystem)
        families: set[str] = set()
        value = ffi.new("FcChar8 **")
        for i in range(fonts.nfont if fonts != ffi.NULL else 0):
            n = 0
            while fontconfig.FcPatternGetString(fonts.fonts[i], b"family", n, value) == 0:
                families.add(ffi.string(value[0]).decode("utf-8", "replace"))
                n += 1
    finally:
        fontconfig.FcConfigDestroy(config)
    return next((f for f in CJK_FAMILIES if f in families), None)


def _refuse_url(url: str, *args: Any, **kwargs: Any) -> dict:
    """Documents are made from what is here: WeasyPrint fetches no URL, no font, no image."""
    raise ValueError(f"printed documents fetch nothing ({url})")


def pdf(request: Request, template: str, filename: str, **context: Any) -> Response:
    """A document's template as an A4 PDF in the user's language, or an error page (500)
    saying that the Chinese font is missing."""
    if cjk_font() is None:
        log.error("no CJK font (%s) installed: install fonts-noto-cjk", ", ".join(CJK_FAMILIES))
        raise PageError(500, text_for(request, NO_CJK_FONT))
    from weasyprint import CSS, HTML

    language = language_of(request)
    html = environment(language).get_template(template).render(
        request=request, path=request.url.path, query="", pdf=True, **context)
    data = HTML(string=html, url_fetcher=_refuse_url).write_pdf(
        stylesheets=[CSS(string=STYLESHEET.read_text(encoding="utf-8"))])
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"})


# --- words --------------------------------------------------------------------------------------

def day(value: date | None, language: str) -> str:
    """A date as a document writes it: 2026年12月3日, or 3 December 2026."""
    if value is None:
        return ""
    if language == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {value:%B %Y}"


def words(request: Request) -> dict[str, Any]:
    language = language_of(request)
    gettext = translator(language)
    return {"day": lambda value: day(value, language), "titles": TITLES,
            "reason": lambda code: gettext(REASONS.get(code, REASONS["other"])),
            # the amount in capitals (大写金额): a Chinese document's, not an English one's
            "capitals": printed.amount_in_capitals if language == "zh" else None}


def _claim_document(request: Request, session: Session, user, claim_id: int, kind: str,
                    fmt: str):
    build = printed.payout_notice if kind == "payout_notice" else printed.rejection_notice

    def check():
        try:
            return build(session, user.actor, claim_id, fmt)
        except printed.NotPrintable as refused:
            language = language_of(request)
            raise PageError(409, translator(language)(NOT_PRINTABLE[kind], state=code_label(
                "ClaimState", str(refused.value), language))) from None

    document = gate(request, check, NO_SUCH_CLAIM)
    session.commit()  # the print is on the audit trail
    return document


def _claim_page(request: Request, session: Session, user, claim_id: int, kind: str):
    document = _claim_document(request, session, user, claim_id, kind, "html")
    return render(request, "printed.html", user=user, d=document, kind=kind,
                  pdf_href=f"/claims/{claim_id}/{kind.replace('_', '-')}.pdf",
                  back=f"/claims/{claim_id}", **words(request))


def _claim_pdf(request: Request, session: Session, user, claim_id: int, kind: str):
    if cjk_font() is None:  # before the print is recorded: nothing left the system
        raise PageError(500, text_for(request, NO_CJK_FONT))
    document = _claim_document(request, session, user, claim_id, kind, "pdf")
    return pdf(request, "printed_pdf.html", f"{kind}-{document.claim.claim_number}.pdf",
               user=user, d=document, kind=kind, **words(request))


# --- routes -------------------------------------------------------------------------------------

@router.get("/claims/{claim_id}/payout-notice", dependencies=[Depends(came_from_here)])
def payout_notice_page(request: Request, session: SessionDep, user: User, claim_id: int):
    """The payout notice (理赔通知书) of an approved or paid claim, ready to print on A4."""
    return _claim_page(request, session, user, claim_id, "payout_notice")


@router.get("/claims/{claim_id}/payout-notice.pdf", dependencies=[Depends(came_from_here)])
def payout_notice_pdf(request: Request, session: SessionDep, user: User, claim_id: int):
    return _claim_pdf(request, session, user, claim_id, "payout_notice")


@router.get("/claims/{claim_id}/rejection-notice", dependencies=[Depends(came_from_here)])
def rejection_notice_page(request: Request, session: SessionDep, user: User, claim_id: int):
    """The rejection notice (拒赔通知书) of a rejected claim: the reason, how to object and by
    when."""
    return _claim_page(request, session, user, claim_id, "rejection_notice")


@router.get("/claims/{claim_id}/rejection-notice.pdf", dependencies=[Depends(came_from_here)])
def rejection_notice_pdf(request: Request, session: SessionDep, user: User, claim_id: int):
    return _claim_pdf(request, session, user, claim_id, "rejection_notice")


@router.get("/notice/{village}.pdf", dependencies=[Depends(came_from_here)])
def village_notice_pdf(request: Request, session: SessionDep, user: User, village: int):
    """The formal village notice (公示) as a PDF; its print page is /notice?village=…"""
    if cjk_font() is None:
        raise PageError(500, text_for(request, NO_CJK_FONT))
    notice = gate(request, lambda: printed.village_notice(session, user.actor, village,
                                                          fmt="pdf"), NO_SUCH_VILLAGE)
    session.commit()
    return pdf(request, "printed_pdf.html", f"village-notice-{notice.village.code}.pdf",
               user=user, n=notice, kind="village_notice", **words(request))
