"""Printed documents for the household and the village (打印文书): the payout notice
(理赔通知书), the rejection notice (拒赔通知书) and the formal village notice (公示).

This is the service the print pages and their PDFs call: it decides who may print what
(``claims.access``: a township-limited user only the claims and villages of their area, a
claim outside it is answered as a missing one), what a document says (finished data, names
and accounts masked by ``claims.masking``; the head's name in full only for a user with the
reveal permission) and puts every print of a household's document on the audit trail, as a
reveal is. The words are the pages' (claims/web/printed.py and templates/printed_*.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from claims import access, audit, clock, lifecycle, masking
from claims.auth import Actor
from claims.models import (
    Claim,
    ClaimRecord,
    ClaimState,
    Household,
    Payment,
    PaymentState,
    Region,
)
from claims.settings import get_settings
from policies import benefits, registry
from policies.errors import Conflict, NotFound
from policies.models import PolicyContract

# The states a document is printed in.
PAYOUT_STATES = frozenset({ClaimState.payment_pending, ClaimState.paid})
REJECTION_STATES = frozenset({ClaimState.rejected})
DOCUMENTS = ("payout_notice", "rejection_notice", "village_notice")
# The Chinese financial capitals (大写数字) and their places.
CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
CAPITAL_PLACES = ("", "拾", "佰", "仟")
CAPITAL_GROUPS = ("", "万", "亿")
CAPITALS_BELOW = Decimal(10) ** 12  # up to 9,999 亿


class NotPrintable(Conflict):
    """The claim is not in a state its document is printed in (409, field ``state``)."""


def documents(claim: Claim) -> list[str]:
    """The documents printed for a claim in its state (links of the claim page)."""
    return (["payout_notice"] if claim.state in PAYOUT_STATES else []) + (
        ["rejection_notice"] if claim.state in REJECTION_STATES else [])


def amount_in_capitals(amount: Decimal) -> str:
    """An amount in yuan as a Chinese payment document writes it in capitals (大写金额), by
    the rules of 《正确填写票据和结算凭证的基本规定》: 12,345.60 → 人民币壹万贰仟叁佰肆拾伍元陆角整.

    A run of zeros between two digits is one 零; 10 to 19 are written 壹拾…; 整 follows 元 or
    角 when there are no 分. Where the rules allow a 零 or none (a zero in the 万 or 亿 place
    before a non-zero thousand, or in the 元 place before non-zero 角) this writes the first
    form of the rules' own examples: 107,000.53 → 人民币壹拾万柒仟元零伍角叁分, 1,680.32 →
    人民币壹仟陆佰捌拾元零叁角贰分. Only the Chinese notice shows it; the English notice shows
    the figure alone (English documents write no amount in words)."""
    if amount < 0 or amount >= CAPITALS_BELOW or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"an amount in capitals is 0.00 to 999,999,999,999.99 yuan in "
                         f"whole fen, not {amount}")
    fen_total = int(amount * 100)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    groups = []  # of four digits, the lowest first
    while yuan // 10000 ** len(groups):
        groups.append(yuan // 10000 ** len(groups) % 10000)
    text, zero_before = "", False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            zero_before = bool(text)
            continue
        if text and (zero_before or group < 1000):
            text += "零"
        text += _capital_group(group) + CAPITAL_GROUPS[index]
        zero_before = False
    if yuan:
        text += "元"
        if (jiao or fen) and (yuan % 10 == 0 or jiao == 0):
            text += "零"
    elif not (jiao or fen):
        text = "零元"
    if jiao:
        text += CAPITAL_DIGITS[jiao] + "角"
    text += CAPITAL_DIGITS[fen] + "分" if fen else "整"
    return "人民币" + text


def _capital_group(group: int) -> str:
    """A group of up to four digits (1-9999) in capitals: one 零 for zeros between digits,
    none after the last."""
    text, zero = "", False
    for place in (3, 2, 1, 0):
        digit = group // 10 ** place % 10
        if digit == 0:
            zero = bool(text)
            continue
        text += ("零" if zero else "") + CAPITAL_DIGITS[digit] + CAPITAL_PLACES[place]
        zero = False
    return text


@dataclass
class Addressee:
    """The household a notice is addressed to, as the document shows it."""

    household_number: str
    head: str  # masked unless the printer may reveal
    id_number: str  # always masked
    township: str
    village: str
    county: str
    full_name: bool


@dataclass
class ClaimDocument:
    """What a payout or a rejection notice says (amounts in yuan, dates in the county's
    calendar)."""

    kind: str
    claim: Claim
    to: Addressee
    insurer: str
    title: str  # the terms' title, e.g. 禹州市防贫保险 2026
    issued_on: date
    decided_on: date | None = None
    # the payout notice
    amount: Decimal = Decimal("0.00")
    paid_amount: Decimal = Decimal("0.00")
    paid_on: date | None = None
    payments_paid: int = 0  # a supplement paid after the first payment makes two
    bank_name: str = ""
    account: str = ""  # masked: ****1234
    calculations: list[dict[str, Any]] = field(default_factory=list)
    reduction_reason: str = ""  # why less than the terms give was approved (its note)
    # the rejection notice
    rejection_code: str = ""
    rejection_text: str = ""
    objection_days: int = 0
    objection_deadline: date | None = None
    objection_phone: str = ""


@dataclass
class VillageNotice:
    """The formal public notice (公示) of a village's claims in notice."""

    village: Region
    township: str
    county: str
    issuer: str  # empty: the village committee (the page names it in its language)
    rows: list[dict[str, Any]]
    starts: date | None
    ends: date | None
    objection_phone: str
    issued_on: date


def _names(session: Session, village_id: int) -> tuple[Region, str, str]:
    village = session.get(Region, village_id)
    if village is None:
        raise NotFound(f"village {village_id} does not exist", field="village",
                       value=village_id)
    township = session.get(Region, village.parent_id) if village.parent_id else None
    county = (session.get(Region, township.parent_id)
              if township is not None and township.parent_id else None)
    return village, township.name if township else "", county.name if county else ""


def _addressee(session: Session, actor: Actor, household: Household) -> Addressee:
    head = registry.head_of(session, household.id)
    village, township, county = _names(session, household.village_id)
    name = head.name if head else ""
    return Addressee(household.household_number,
                     name if actor.may_reveal else masking.name(name),
                     masking.id_number(head.id_number if head else ""),
                     township, village.name, county, actor.may_reveal)


def _decided_on(session: Session, claim: Claim, kinds: tuple[str, ...]) -> date | None:
    """The county's date of the claim's last step of these kinds."""
    record = session.exec(select(ClaimRecord).where(
        ClaimRecord.claim_id == claim.id, ClaimRecord.kind.in_(kinds))
        .order_by(ClaimRecord.id.desc())).first()
    return clock.county_date(record.created_at) if record else None


def _printed(session: Session, actor: Actor, household: Household, document: str,
             about: str, fmt: str, full_name: bool) -> None:
    """A document with a household's personal data left the system: on the audit trail as
    a reveal is (who, when, which document, in which form, names in full or not); a page
    shown on screen as a view, a PDF as printed (a tester's look at a notice read 打印)."""
    shown = "view" if fmt == "html" else "print"
    audit.record(session, actor, "household", household.household_number, shown,
                 reason=document, after={"document": document, "about": about,
                                         "format": fmt,
                                         "names": "full" if full_name else "masked"})


def _claim_document(session: Session, actor: Actor, claim_id: int, kind: str,
                    states: frozenset[str], fmt: str) -> tuple[ClaimDocument, Household]:
    claim = access.claim(session, actor, claim_id)
    if claim.state not in states:
        raise NotPrintable(f"a {kind} is printed for a claim that is "
                           f"{' or '.join(sorted(states))}; claim {claim.claim_number} is "
                           f"{claim.state}", field="state", value=claim.state)
    household = session.get(Household, claim.household_id)
    assert household is not None
    contract = session.get(PolicyContract, claim.contract_id)
    terms = benefits.terms_of(benefits.get_terms_version(session, claim.terms_version_id))
    to = _addressee(session, actor, household)
    document = ClaimDocument(kind=kind, claim=claim, to=to,
                             insurer=contract.insurer if contract else "",
                             title=terms.policy.title, issued_on=clock.county_today())
    _printed(session, actor, household, kind, claim.claim_number, fmt, to.full_name)
    return document, household


def payout_notice(session: Session, actor: Actor, claim_id: int, fmt: str = "html"
                  ) -> ClaimDocument:
    """The payout notice (理赔通知书) of an approved or paid claim in the actor's area: the
    amount, the calculation line by line, the account masked; on the audit trail."""
    document, household = _claim_document(session, actor, claim_id, "payout_notice",
                                          PAYOUT_STATES, fmt)
    claim = document.claim
    document.amount = claim.approved_amount
    document.paid_amount = claim.paid_amount
    if claim.approved_amount < claim.entitled:  # the household is told why less is paid
        document.reduction_reason = masking.in_text(
            (claim.calculation or {}).get(lifecycle.REDUCTION, ""))
    document.decided_on = (_decided_on(session, claim, ("approve",))
                           or clock.county_date(claim.updated_at))
    document.calculations = list((claim.calculation or {}).get("events", []))
    # The account the money went (or goes) to: the payment's, else the household's own.
    made = session.exec(select(Payment).where(Payment.claim_id == claim.id)
                        .order_by(Payment.id)).all()
    payment = made[-1] if made else None
    paid = [p.paid_at for p in made if p.state == PaymentState.paid]
    document.payments_paid = len(paid)  # a supplement paid after the first makes two
    if paid and paid[-1]:
        document.paid_on = clock.county_date(paid[-1])
    bank_name = payment.bank_name if payment is not None else household.bank_name
    account = payment.bank_account if payment is not None else household.bank_account
    document.bank_name = masking.in_text(bank_name or "")  # typed: 农行 and an ID number
    document.account = masking.account(account)
    return document


def rejection_notice(session: Session, actor: Actor, claim_id: int, fmt: str = "html"
                     ) -> ClaimDocument:
    """The rejection notice (拒赔通知书) of a rejected claim in the actor's area: the reason,
    how to object and by when (FANGPIN_OBJECTION_DAYS after the decision); audited."""
    document, _household = _claim_document(session, actor, claim_id, "rejection_notice",
                                           REJECTION_STATES, fmt)
    claim = document.claim
    settings = get_settings()
    document.rejection_code = claim.rejection_code or "other"
    document.rejection_text = lifecycle.texts(claim)["rejection_text"]
    document.decided_on = (_decided_on(session, claim, ("reject", "record_review"))
                           or clock.county_date(claim.updated_at))
    document.objection_days = settings.objection_days
    document.objection_deadline = document.decided_on + timedelta(days=settings.objection_days)
    document.objection_phone = settings.objection_phone
    return document


def village_notice(session: Session, actor: Actor, village_id: int, *,
                   fmt: str | None = None) -> VillageNotice:
    """The claims in public notice in a village of the actor's area (a village elsewhere is
    answered as a missing one), each with its notice dates, names and ID numbers masked;
    with ``fmt`` (a print) it is on the audit trail."""
    if not access.in_area(actor, village_id):
        raise NotFound(f"village {village_id} does not exist or is not in your area",
                       field="village", value=village_id)
    village, township, county = _names(session, village_id)
    rows = []
    for claim, household in session.exec(
            select(Claim, Household).join(Household, Household.id == Claim.household_id)
            .where(Claim.state == ClaimState.public_notice, Household.village_id == village_id)
            .order_by(Claim.claim_number)).all():
        head = registry.head_of(session, household.id)
        terms = benefits.terms_of(benefits.get_terms_version(session, claim.terms_version_id))
        start = lifecycle.notice_start(session, claim, recorded=True)
        # the amount this round proposes: a reopened claim's supplement, not the year's
        # whole entitlement, paid in part already (a tester's 21,000 noticed of 11,000)
        rows.append({"claim": claim, "household": household, "amount": lifecycle.net_due(claim),
                     "head": masking.name(head.name if head else ""),
                     "id_number": masking.id_number(head.id_number if head else ""),
                     # the last day of the notice: a 7-day notice from the 16th runs to the
                     # 22nd and is closed from the 23rd (the 23rd had been printed)
                     "start": start, "end": start + timedelta(days=terms.notice_days - 1)})
    settings = get_settings()
    notice = VillageNotice(
        village=village, township=township, county=county, issuer=settings.notice_issuer,
        rows=rows, starts=min((r["start"] for r in rows), default=None),
        ends=max((r["end"] for r in rows), default=None),
        objection_phone=settings.objection_phone, issued_on=clock.county_today())
    if fmt is not None:
        shown = "view" if fmt == "html" else "print"
        audit.record(session, actor, "region", village.code, shown, reason="village_notice",
                     after={"document": "village_notice", "format": fmt,
                            "claims": [r["claim"].claim_number for r in rows],
                            "names": "masked"})
    return notice
