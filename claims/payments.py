"""Payments (赔付): approved claims are gathered into a batch, exported as the bank's file,
and confirmed line by line from the bank's answer. A paid line is written into the
household's income ledger as transfer income (防贫保险), where the fund reads it too.
Each payment is paid at most once: the confirmation changes a line only from exported. A
paid line the bank later sends back (退汇) is returned: the claim owes it again, and the ledger
and the fund no longer count it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from claims import audit, clock, lifecycle, locks, masking, monitoring, reasons
from claims.auth import SYSTEM, Actor
from claims.models import (
    Claim,
    ClaimState,
    Household,
    Payment,
    PaymentBatch,
    PaymentState,
    utcnow,
)
from policies import benefits, registry
from policies.errors import Conflict, DomainError, InvalidInput, NotFound
from policies.messages import N_
from policies.models import IncomeRecord, IncomeRecordCreate, IncomeRecordUpdate
from policies.tables import (
    NOTE_HEADINGS,
    csv_bytes,
    normalise_header,
    read_table,
    typed_number,
    xlsx_bytes,
)
from policies.vocab import IncomeSource

# What banks head the amount they paid; with or without the unit, （元）, and as a
# traditional-Chinese bank writes them (金額).
AMOUNT_HEADINGS = ("金额", "交易金额", "支付金额", "实付金额", "付款金额", "转账金额", "实际金额",
                   "付款额", "交易额", "发生额", "实付额", "支付额", "转账额", "amount")
BANK_HEADERS = ["付款流水号", "户编号", "户主", "开户银行", "银行账号", "金额", "案件号"]
CONFIRMATION_ALIASES = {normalise_header(k): v for k, v in {
    "付款流水号": "payment_id", "payment_id": "payment_id", "状态": "status",
    "支付状态": "status", "status": "status", "失败原因": "reason", "reason": "reason",
    "银行流水号": "bank_reference", "bank_reference": "bank_reference",
    "交易流水号": "bank_reference", "银行交易流水号": "bank_reference",
    # the batch page's third column, a reference or a reason, as it names it in each language
    # (its Chinese heading had been dropped without a word: a tester's references and
    # reasons were lost)
    "reference": "bank_reference", "银行流水号或失败原因": "bank_reference",
    "bank reference or reason": "bank_reference", "原因": "reason", "处理结果": "status",
    "交易状态": "status",
    **{written + unit: "amount" for name in AMOUNT_HEADINGS
       for written in (name, name.replace("额", "額")) for unit in ("", "(元)")},
}.items()}
# Columns of the bank file this service wrote, which a bank's answer may give back, and the
# day of the transfer: read past. Any other column is refused, naming it: one dropped
# without a word had held the bank's references and reasons.
PASSED_OVER = NOTE_HEADINGS | {normalise_header(h) for h in (
    *BANK_HEADERS, "household_number", "head", "bank_name", "bank_account", "claim_number",
    "户名", "账号", "日期", "交易日期", "交易时间", "date",
    # what a bank's answer adds beside them: the memo (备注 and 摘要 are the transfer's
    # words, "防贫保理赔款", never why it failed: a re-tester's reason was lost to one), the
    # payee, the day booked, the receipt, the currency, the fee
    "摘要", "用途", "附言", "收款人", "收款人姓名", "收款人账号", "收款账号", "记账日期",
    "回单编号", "回单号", "币种", "手续费")}
CONFIRMATION_HEADINGS = ("付款流水号 (payment_id), 状态 (status), 银行流水号 (bank_reference), "
                         "失败原因 (reason), 银行流水号或失败原因, 金额 (amount)")
PAID = {"paid", "成功", "已支付", "交易成功", "支付成功", "转账成功"}
FAILED = {"failed", "失败", "支付失败", "交易失败", "转账失败"}
RETURNED = {"returned", "退汇", "已退汇", "退回"}
# Lines the bank has not answered yet: a bank file carries them, a claim with one is not
# taken into another batch, and a contract with one is not settled.
UNDER_WAY = (PaymentState.pending, PaymentState.exported)


def _looks_like_an_amount(heading: str) -> bool:
    """A heading a bank may give the amount paid under (…额 or …額, in 元, amount), but not a
    balance (余额): a hostile tester's 付款额 was ignored and a line paid 1.00 recorded paid
    1,000, and so was 人民币(元)."""
    plain = normalise_header(heading).replace("額", "额").replace("餘", "余")
    return (("额" in plain and "余额" not in plain) or "元" in plain or "amount" in plain
            or "amt" in plain)


def _to_pay() -> tuple:
    """What a new batch takes: the claims awaiting payment with no payment under way."""
    busy = select(Payment.claim_id).where(Payment.state.in_(UNDER_WAY))
    return Claim.state == ClaimState.payment_pending, Claim.id.not_in(busy)


def claims_to_pay(session: Session) -> int:
    """How many claims a new batch would take (a claim in a batch not yet confirmed is
    not counted: it is paid by that batch)."""
    return session.exec(select(sa.func.count(Claim.id)).where(*_to_pay())).one()


def create_batch(session: Session, actor: Actor) -> PaymentBatch:
    """Gather every claim awaiting payment that has no payment under way; flushes."""
    # Locked, so two batches made at once cannot both take a claim (the partial unique index
    # on payment.claim_id is the last line of defence).
    claims = locks.claims_where(session, *_to_pay())
    if claims:
        # Read again once locked: PostgreSQL re-checks a locked row, not the subquery of
        # payments under way, so a batch made at the same moment had taken the same claims
        # and its request failed on the unique index ("another request stored …") instead
        # of being told there was nothing left to pay (a concurrency tester's).
        busy = set(session.exec(select(Payment.claim_id).where(
            Payment.claim_id.in_([c.id for c in claims]),
            Payment.state.in_(UNDER_WAY))).all())
        claims = [c for c in claims if c.id not in busy]
    if not claims:
        raise Conflict("no approved claim is waiting for payment", field="claims",
                       code="nothing_to_pay")
    batch = PaymentBatch(batch_number="", created_by=actor.id if actor.kind == "user" else None)
    session.add(batch)
    session.flush()
    batch.batch_number = f"PB{clock.county_today():%Y%m%d}{batch.id:05d}"
    for claim in claims:
        household = session.get(Household, claim.household_id)
        head = registry.head_of(session, household.id)
        session.add(Payment(
            batch_id=batch.id, claim_id=claim.id, amount=claim.approved_amount - claim.paid_amount,
            bank_name=household.bank_name, bank_account=household.bank_account,
            account_holder=head.name if head else None, state=PaymentState.pending))
    session.flush()
    audit.record(session, actor, "payment_batch", batch.batch_number, "create",
                 after={"claims": [c.claim_number for c in claims]})
    return batch


def get_batch(session: Session, batch_id: int) -> PaymentBatch:
    batch = session.get(PaymentBatch, batch_id)
    if batch is None:
        raise NotFound(f"payment batch {batch_id} does not exist", field="id", value=batch_id)
    return batch


def batch_lines(session: Session, batch_id: int) -> list[dict]:
    """A batch's lines as their readers see them (the batch page, the API): the bank's
    reason a payment failed may name the account holder by ID number, and is given masked,
    as what staff type on a claim is (lifecycle.texts)."""
    rows = session.exec(
        select(Payment, Claim.claim_number, Household.household_number)
        .join(Claim, Claim.id == Payment.claim_id)
        .join(Household, Household.id == Claim.household_id)
        .where(Payment.batch_id == batch_id).order_by(Payment.id)).all()
    return [{**registry.fields_of(p), **masking.typed(p), "claim_number": number,
             "household_number": hh}
            for p, number, hh in rows]




def settled(lines: list[dict]) -> bool:
    """Whether the bank answered every line of a batch (each paid or failed): its bank file
    has nothing left to send, and its lines are the batch's record."""
    return not any(line["state"] in UNDER_WAY for line in lines)


def bank_file(session: Session, actor: Actor, batch_id: int, fmt: str) -> tuple[str, bytes]:
    """The bank's file for a batch (CSV or XLSX) and its name; its pending lines become
    exported. Every file made is on the audit trail (it holds the payees' full names and
    accounts), not only the first. Refused for a settled batch: a file of no lines is no record, and
    nothing is left to send."""
    batch = get_batch(session, batch_id)
    if fmt not in ("csv", "xlsx"):
        raise InvalidInput("format is csv or xlsx", field="format", value=fmt)
    # The batch's lines locked first (claims.locks): two files made at once had both read
    # the lines as not yet sent, and the second gave a line the first had sent the account
    # changed since, so the record no longer said where the money went (a tester's).
    locks.payments(session, session.exec(select(Payment.id).where(
        Payment.batch_id == batch_id)).all())
    _refresh_payees(session, actor, batch)
    # (not "line for line in": the catalog's extraction reads line( as the calculator's)
    lines = [row for row in batch_lines(session, batch_id) if row["state"] in UNDER_WAY]
    if not lines:
        raise Conflict(f"every line of batch {batch.batch_number} is paid or failed: no bank "
                       "file is left to send", field="batch", code="batch_settled")
    rows = [[line["id"], line["household_number"], line["account_holder"], line["bank_name"],
             line["bank_account"], _amount_cell(line["amount"], fmt), line["claim_number"]]
            for line in lines]
    data = (xlsx_bytes(BANK_HEADERS, rows, "付款清单") if fmt == "xlsx"
            else csv_bytes(BANK_HEADERS, rows))
    session.execute(sa.update(Payment).where(Payment.batch_id == batch_id,
                                             Payment.state == PaymentState.pending)
                    .values(state=PaymentState.exported))
    audit.record(session, actor, "payment_batch", batch.batch_number, "export",
                 after={"format": fmt, "lines": len(lines)})
    session.flush()
    # named by the batch's number, as the bank and the batch page know it (batch-1.csv had
    # named it by a row id)
    return f"{batch.batch_number}.{fmt}", data


def _refresh_payees(session: Session, actor: Actor, batch: PaymentBatch) -> None:
    """The lines not yet sent take the household's account and head as they are now: an
    account changed after the batch was made (flagged on the batch for the supervisor)
    must not send the money to the old one, nor name a head who has died. A line whose
    household has no account is refused, naming the households: record their accounts
    first."""
    refreshed, missing = [], []
    for payment, household in session.exec(
            select(Payment, Household).join(Claim, Claim.id == Payment.claim_id)
            .join(Household, Household.id == Claim.household_id)
            .where(Payment.batch_id == batch.id, Payment.state == PaymentState.pending)
            .order_by(Payment.id)).all():
        if not (household.bank_name or "").strip() or not (household.bank_account or "").strip():
            missing.append(household.household_number)
            continue
        head = registry.head_of(session, household.id)
        now = (household.bank_name, household.bank_account, head.name if head else None)
        if (payment.bank_name, payment.bank_account, payment.account_holder) != now:
            payment.bank_name, payment.bank_account, payment.account_holder = now
            refreshed.append(payment.id)
    if missing:
        raise Conflict(f"households {', '.join(missing)} have no bank account: record it "
                       "before the bank file is made", field="bank_account",
                       value=", ".join(missing), code="no_bank_account",
                       values={"households": ", ".join(missing)})
    if refreshed:
        audit.record(session, actor, "payment_batch", batch.batch_number, "refresh_payees",
                     after={"lines": refreshed})
        session.flush()


def _amount_cell(amount: Decimal, fmt: str) -> Decimal | str:
    """A line's amount: in a workbook a number of two places (Excel adds numbers, not
    text); in CSV, which has no types, the text with its two places."""
    cents = Decimal(amount).quantize(Decimal("0.01"))
    return cents if fmt == "xlsx" else f"{cents:.2f}"


# Why a line of the bank's answer was not applied, in words the pages read back into their
# template and values to translate (claims.web.office).
NOT_A_NUMBER = N_("payment_id must be a payment number")
NOT_IN_BATCH = N_("no such payment in this batch")
UNKNOWN_STATUS = N_("status %(status)s is neither paid nor failed")
NO_STATUS = N_("status is empty: write paid or failed")
LINE_IS = N_("the line is %(state)s")
# the bank's amount, when its answer gives one, must be the line's: money paid otherwise is
# not recorded as the line's payment, in the ledger or the fund
NOT_AN_AMOUNT = N_("amount %(amount)s is not an amount of money")
AMOUNT_DIFFERS = N_("the bank paid %(amount)s but the line is %(due)s: not recorded; "
                    "check with the bank")
NO_REASON = N_("no reason given")  # a failed or returned line whose bank wrote none
# one payment answered twice in a file, or paid again under another reference: the second
# answer is not taken for the first (a tester's BANKREF2 had read as "already paid")
TWICE = N_("this payment is answered on line %(row)s of the file too: not recorded; check "
           "with the bank")
OTHER_REFERENCE = N_("already paid under the bank's reference %(reference)s, not this one: "
                     "check with the bank")
LINE_REASONS = (NOT_A_NUMBER, NOT_IN_BATCH, UNKNOWN_STATUS, NO_STATUS, LINE_IS, NOT_AN_AMOUNT,
                AMOUNT_DIFFERS, NO_REASON, TWICE, OTHER_REFERENCE)


@dataclass(frozen=True)
class LineResult:
    row: int
    payment_id: str
    result: str  # paid, failed, returned; already_ each of them; or error
    reason: str = ""


def confirm(session: Session, actor: Actor, batch_id: int, data: bytes, filename: str
            ) -> list[LineResult]:
    """Import the bank's confirmation line by line; importing it twice changes nothing."""
    get_batch(session, batch_id)
    table = read_table(data, filename, CONFIRMATION_ALIASES, [("payment_id",), ("status",)])
    # An amount under a heading not known here would not be checked against the line, and a
    # line paid 1.00 would be recorded paid in full: such a file is refused, naming it.
    amounts = [h for h in table.ignored_columns if _looks_like_an_amount(h)]
    if amounts:
        raise InvalidInput(
            f"column(s) {', '.join(amounts)} look like the amount paid but are not a heading "
            f"this file takes ({', '.join(AMOUNT_HEADINGS)}): rename it, or remove it",
            field="header", value=", ".join(amounts), code="amount_column",
            values={"columns": "、".join(amounts), "headings": "、".join(AMOUNT_HEADINGS)})
    unknown = [h for h in table.ignored_columns if normalise_header(h) not in PASSED_OVER]
    if unknown:
        raise InvalidInput(
            f"column(s) {', '.join(unknown)} are not a heading this file takes: "
            f"{CONFIRMATION_HEADINGS}; rename or remove them",
            field="header", value=", ".join(unknown), code="unknown_bank_columns",
            values={"columns": "、".join(unknown)})
    # The lock order (claims.locks): the households of the claims the file pays (a payout's
    # income record and monitoring window point to the household, and inserting them takes a
    # key-share lock on its row), then those claims, then their payment lines, each in id
    # order, before any line is applied.
    numbers = {int(raw) for raw in table.frame["payment_id"]
               if raw.isascii() and raw.isdigit() and len(raw) <= 18}
    found = session.execute(select(Payment.id, Payment.claim_id, Claim.household_id).join(
        Claim, Claim.id == Payment.claim_id).where(
        Payment.id.in_(numbers), Payment.batch_id == batch_id)).all() if numbers else []
    lines = {payment_id: claim_id for payment_id, claim_id, _ in found}
    locks.households(session, {household_id for _, _, household_id in found})
    locks.claims(session, lines.values())
    locks.payments(session, lines)
    results = []
    answered: dict[int, int] = {}  # payment → the line of the file whose answer was taken
    for row, line in table.frame.iterrows():
        raw_id, status = line["payment_id"], line["status"].lower()
        reason = line.get("reason", "") or line.get("bank_reference", "") or ""
        if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18):
            results.append(LineResult(row, raw_id, "error", NOT_A_NUMBER))
            continue
        if int(raw_id) in answered:
            results.append(LineResult(row, raw_id, "error", TWICE % {
                "row": answered[int(raw_id)]}))
            continue
        payment = session.get(Payment, int(raw_id))
        if payment is None or payment.batch_id != batch_id:
            results.append(LineResult(row, raw_id, "error", NOT_IN_BATCH))
            continue
        if status not in PAID | FAILED | RETURNED:
            results.append(LineResult(row, raw_id, "error", UNKNOWN_STATUS % {
                "status": line["status"]} if status.strip() else NO_STATUS))
            continue
        typed = (line.get("amount", "") or "").strip()
        if status in PAID and typed:
            amount = typed_number(typed)
            if amount is None:
                results.append(LineResult(row, raw_id, "error", NOT_AN_AMOUNT % {
                    "amount": typed}))
                continue
            if amount != payment.amount:
                results.append(LineResult(row, raw_id, "error", AMOUNT_DIFFERS % {
                    "amount": f"{amount:.2f}", "due": f"{payment.amount:.2f}"}))
                continue
        # Each line on its own: one that cannot be applied is reported, the rest still are.
        savepoint = session.begin_nested()
        try:
            if status in PAID:
                result = _paid(session, actor, payment, row,
                               (line.get("bank_reference", "") or "")[:64])
            elif status in RETURNED and payment.state != PaymentState.exported:
                result = _returned(session, actor, payment, row, reason)
            else:  # failed, or sent back before it was ever confirmed paid: a failure
                result = _failed(session, actor, payment, row, reason)
            savepoint.commit()
        except DomainError as exc:
            savepoint.rollback()
            result = LineResult(row, raw_id, "error", exc.message)
        if result.result != "error":  # a line taken: another answer of it is not
            answered[int(raw_id)] = row
        results.append(result)
    session.flush()
    return results


def _paid(session: Session, actor: Actor, payment: Payment, row: int, reference: str):
    changed = session.execute(
        sa.update(Payment).where(Payment.id == payment.id,
                                 Payment.state == PaymentState.exported)
        .values(state=PaymentState.paid, paid_at=utcnow(), bank_reference=reference or "")
    ).rowcount
    session.refresh(payment)
    if not changed and payment.state == PaymentState.paid and reference \
            and payment.bank_reference and reference != payment.bank_reference:
        return LineResult(row, str(payment.id), "error", OTHER_REFERENCE % {
            "reference": payment.bank_reference})
    if not changed:
        result = "already_paid" if payment.state == PaymentState.paid else "error"
        return LineResult(row, str(payment.id), result,
                          "" if result == "already_paid" else LINE_IS % {"state": payment.state})
    claim = session.get(Claim, payment.claim_id)  # locked by confirm
    before = lifecycle.snapshot(claim)  # the trail's before: the amount paid until now
    claim.paid_amount += payment.amount
    _record_payout(session, claim, payment)
    monitoring.open_or_extend(session, claim, clock.county_today())
    audit.record(session, actor, "payment", payment.id, "paid", reason=reference or "",
                 after={"claim": claim.claim_number, "amount": payment.amount})
    if claim.paid_amount >= claim.approved_amount:
        lifecycle.transition(session, claim, "mark_paid", SYSTEM, before=before,
                             reason=reasons.coded("payment_confirmed", payment=payment.id))
        if claim.calculation.get("supplement_pending"):  # bills arrived after an approval
            claim.calculation = {**claim.calculation, "supplement_pending": False}
            if lifecycle.net_due(claim) > 0:  # not already covered by a later one
                lifecycle.transition(session, claim, "reopen", SYSTEM,
                                     reason=reasons.coded("bills_during_payment"))
    return LineResult(row, str(payment.id), "paid")


def _failed(session: Session, actor: Actor, payment: Payment, row: int, reason: str):
    changed = session.execute(
        sa.update(Payment).where(Payment.id == payment.id,
                                 Payment.state == PaymentState.exported)
        .values(state=PaymentState.failed, failure_reason=reason[:255])).rowcount
    session.refresh(payment)
    if not changed:
        result = "already_failed" if payment.state == PaymentState.failed else "error"
        return LineResult(row, str(payment.id), result,
                          "" if result == "already_failed" else LINE_IS % {"state": payment.state})
    audit.record(session, actor, "payment", payment.id, "failed", reason=reason)
    return LineResult(row, str(payment.id), "failed", masking.in_text(reason) or NO_REASON)


def _returned(session: Session, actor: Actor, payment: Payment, row: int, reason: str):
    """A paid line the bank sent back (退汇: the account closed, the name differs): the claim
    owes it again (a paid claim waits for payment again, and the next batch takes it), and the
    household's payout record is corrected to nothing, so the fund and the income ledger no
    longer count it; its version keeps what the days before knew."""
    changed = session.execute(
        sa.update(Payment).where(Payment.id == payment.id, Payment.state == PaymentState.paid)
        .values(state=PaymentState.returned, failure_reason=reason[:255])).rowcount
    session.refresh(payment)
    if not changed:
        result = "already_returned" if payment.state == PaymentState.returned else "error"
        return LineResult(row, str(payment.id), result, "" if result == "already_returned"
                          else LINE_IS % {"state": payment.state})
    claim = session.get(Claim, payment.claim_id)  # locked by confirm
    before = lifecycle.snapshot(claim)
    claim.paid_amount -= payment.amount
    record_id = session.exec(select(IncomeRecord.id).where(
        IncomeRecord.household_id == claim.household_id,
        IncomeRecord.source == IncomeSource.payout,
        IncomeRecord.reference == benefits.payout_reference(claim.contract_id, claim.id,
                                                            payment.id))).first()
    if record_id is not None:
        registry.update_income_record(session, record_id, IncomeRecordUpdate(
            transfer_poverty_insurance=Decimal("0.00")))
    returned = reasons.coded("payment_returned", payment=payment.id)
    if claim.state in (ClaimState.paid, ClaimState.rejected, ClaimState.withdrawn):
        lifecycle.transition(session, claim, "payment_returned", SYSTEM, before=before,
                             reason=returned)
    else:  # reopened meanwhile: on the claim's trail all the same (it had been the payment's)
        audit.record(session, SYSTEM, "claim", claim.claim_number, "payment_returned",
                     reason=returned, before=before, after=lifecycle.snapshot(claim))
    removed = monitoring.payout_returned(session, claim.household_id)
    audit.record(session, actor, "payment", payment.id, "returned", reason=reason,
                 after={"claim": claim.claim_number, "amount": payment.amount,
                        **({"monitoring_window_removed": removed} if removed else {})})
    return LineResult(row, str(payment.id), "returned", masking.in_text(reason) or NO_REASON)


def _record_payout(session: Session, claim: Claim, payment: Payment) -> None:
    """The payout is the household's transfer income (防贫保险) on the day it was paid."""
    today = clock.county_today()
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=claim.household_id, period_start=today, period_end=today,
        source=IncomeSource.payout,
        reference=benefits.payout_reference(claim.contract_id, claim.id, payment.id),
        transfer_poverty_insurance=payment.amount,
    ))


def amount_of(lines: list[dict], *states: str) -> Decimal:
    """What the lines add up to (of ``states`` only, if given). A batch's whole amount counts
    its failed lines, which a later batch sends again: what a batch paid is its paid lines'."""
    return sum((line["amount"] for line in lines if not states or line["state"] in states),
               Decimal("0.00"))
