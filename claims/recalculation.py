"""Bring claims computed under an earlier reading of the terms up to date (issue 15: per-event
caps and deductibles, exact comparisons, the waiting period): list the claims whose
entitlement the calculator now computes differently, with why, and recalculate the open ones
on the audit trail. A paid claim is never changed here: an overpayment is reported, not
clawed back, and an amount still owed is reported for a person to reopen the claim."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlmodel import Session, select

from claims import audit, clock, intake, lifecycle, reasons
from claims.auth import Actor
from claims.models import Claim, ClaimRecord, ClaimState, EventStatus, TriggerEvent
from policies import benefits, calculator
from policies.benefits import EventIn
from policies.models import PolicyContract

# Claims whose entitlement is still being decided; paid ones are reported only.
OPEN = (ClaimState.opened, ClaimState.investigating, ClaimState.village_review,
        ClaimState.public_notice, ClaimState.approval, ClaimState.payment_pending,
        ClaimState.reopened)


@dataclass(frozen=True)
class Change:
    """A claim whose entitlement differs under the calculator's present reading."""

    claim_number: str
    state: str
    old: Decimal
    new: Decimal
    why: str  # the events whose payout changed, with the reason code of each
    paid: Decimal
    note: str = ""  # what is not changed and must be looked at (paid claims, approvals)


def _events_of(session: Session, claim: Claim, household_id: int | None = None
               ) -> dict[str, TriggerEvent]:
    """The claim's household's (or ``household_id``'s) accepted events under its contract,
    keyed as intake keys them (zero-padded ids: events of one day in the order they
    arrived)."""
    return {f"{e.id:012d}": e for e in session.exec(select(TriggerEvent).where(
        TriggerEvent.household_id == (household_id or claim.household_id),
        TriggerEvent.contract_id == claim.contract_id,
        TriggerEvent.status == EventStatus.accepted).order_by(TriggerEvent.id))}


def _values(by_key: dict[str, TriggerEvent]) -> list[calculator.TriggerEvent]:
    return [EventIn.model_validate(e.payload).to_event(event_id=key) for key, e in by_key.items()]


def _elsewhere(session: Session, claim: Claim, terms, contract: PolicyContract,
               by_key: dict[str, TriggerEvent]) -> list[calculator.Elsewhere]:
    """Its members' events judged in another household under the contract (each moved
    within the year), as the evaluator carries them (claims.intake.Cache.elsewhere)."""
    persons = {e.id_number for e in by_key.values() if e.id_number}
    others = sorted(set(session.exec(select(TriggerEvent.household_id).where(
        TriggerEvent.id_number.in_(persons), TriggerEvent.contract_id == claim.contract_id,
        TriggerEvent.status == EventStatus.accepted,
        TriggerEvent.household_id != claim.household_id)).all())) if persons else []
    settled = set(session.exec(select(Claim.id).where(
        Claim.household_id.in_(others), Claim.approved_amount > 0)).all()) if others else set()
    carried: list[calculator.Elsewhere] = []
    for other in others:
        theirs = _events_of(session, claim, other)
        snapshot = benefits.household_snapshot(session, other, policy_year=claim.policy_year,
                                               contract=contract)
        carried += intake.carried_from(calculator.calculate(terms, snapshot, _values(theirs)),
                                       theirs, persons, settled)
    return carried


def _results(quote: calculator.Quote, by_key: dict[str, TriggerEvent], trigger: str) -> list:
    return [audit.jsonable(r.__dict__ | {"event_id": by_key[r.event_id].source_event_id,
                                         "trace": [t.__dict__ for t in r.trace]})
            for r in quote.events if by_key[r.event_id].type == trigger]


def _why(before: list, after: list) -> str:
    """The events whose payout changed: "event ID: old → new (reason)"."""
    old = {r["event_id"]: Decimal(str(r["payout"])) for r in before}
    parts = []
    for result in after:
        was = old.get(result["event_id"])
        now = Decimal(str(result["payout"]))
        if was != now:
            reason = result["reason"]
            parts.append(f"event {result['event_id']}: "
                         f"{'—' if was is None else calculator.money(was)} → "
                         f"{calculator.money(now)}"
                         + (f" ({reason}: {calculator.REASONS.get(reason, reason)})"
                            if reason else ""))
    return "; ".join(parts) or "the events' payouts are unchanged; the total is not"


def _recalculated(session: Session, claim: Claim) -> tuple[Decimal, list]:
    """The claim's entitlement and event results under the present reading of its terms."""
    contract = session.get(PolicyContract, claim.contract_id)
    terms = benefits.terms_of(benefits.get_terms_version(session, claim.terms_version_id))
    by_key = _events_of(session, claim)
    snapshot = benefits.household_snapshot(session, claim.household_id,
                                           policy_year=claim.policy_year, contract=contract)
    quote = calculator.calculate(terms, snapshot, _values(by_key), elsewhere=_elsewhere(
        session, claim, terms, contract, by_key))
    entitled = next((t.entitled for t in quote.totals if t.trigger == claim.trigger),
                    Decimal("0.00"))
    return entitled, _results(quote, by_key, claim.trigger)


def changes(session: Session) -> list[tuple[Claim, Change, list]]:
    """Every open or paid claim whose entitlement the calculator now computes differently,
    with its new event results."""
    found = []
    for claim in session.exec(select(Claim).where(
            Claim.state.in_([*OPEN, ClaimState.paid])).order_by(Claim.id)):
        if claim.source == "application" and not _events_of(session, claim):
            continue  # an application waiting for its first bill has nothing to compute
        entitled, results = _recalculated(session, claim)
        if entitled == claim.entitled:
            continue
        note = ""
        owed = entitled - claim.paid_amount - lifecycle.earlier_cut(claim)
        if claim.state == ClaimState.paid:
            note = (f"paid {calculator.money(claim.paid_amount)}: overpaid by "
                    f"{calculator.money(claim.paid_amount - entitled)}, reported, not clawed "
                    "back" if entitled < claim.paid_amount else
                    f"paid {calculator.money(claim.paid_amount)}: "
                    f"{calculator.money(owed)} more is owed; reopen the claim to pay it"
                    if owed > 0 else
                    f"paid {calculator.money(claim.paid_amount)}, and an approval cut "
                    f"{calculator.money(lifecycle.earlier_cut(claim))}: nothing more is owed")
        elif claim.approved_amount > entitled:
            note = (f"approved {calculator.money(claim.approved_amount)}, above the new "
                    "entitlement: review the approval")
        found.append((claim, Change(
            claim.claim_number, claim.state, claim.entitled, entitled,
            _why(claim.calculation.get("events", []), results), claim.paid_amount, note),
            results))
    return found


def recalculate(session: Session, actor: Actor, *, dry_run: bool,
                today: date | None = None) -> list[Change]:
    """List the claims whose entitlement changes; unless ``dry_run``, recalculate the open
    ones on the audit trail (paid claims are only reported). Flushes; the caller commits."""
    today = today or clock.county_today()
    listed = []
    for claim, change, results in changes(session):
        listed.append(change)
        if dry_run or claim.state not in OPEN:
            continue
        before = lifecycle.snapshot(claim)
        claim.entitled = change.new
        claim.calculation = {**claim.calculation, "events": results}
        if claim.state == ClaimState.public_notice:
            # The village was shown another amount: the notice starts again from today.
            notice_days = benefits.terms_of(benefits.get_terms_version(
                session, claim.terms_version_id)).notice_days
            session.add(ClaimRecord(claim_id=claim.id, kind="start_notice", data={
                "start_date": today.isoformat(),
                "reason": reasons.coded("amount_changed", old=change.old, new=change.new)}))
            claim.due_date = lifecycle.due_date_for(ClaimState.public_notice, today,
                                                    notice_days)
        audit.record(session, actor, "claim", claim.claim_number, "recalculate",
                     reason=f"the calculator's corrected reading of the terms: {change.why}",
                     before=before, after=lifecycle.snapshot(claim))
    session.flush()
    return listed
