"""Bulk steps where the work is bulk (批量办理): one village meeting's review (民主评议) recorded
for every claim of the village that waits for it, the public notice (公示) started or closed for
every claim of a village at once, and a chosen list of claims approved. Each claim is taken
through the same :func:`claims.lifecycle.transition` as a single step — its state, the role,
the four-eyes rules and the approval limits checked, its own audit entry — in a savepoint of
its own: a claim that cannot take the step is listed with the reason, the others proceed.
The pages and the API call these functions; they flush, the caller commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, select

from claims import access, lifecycle, locks
from claims.auth import Actor, Forbidden
from claims.models import Claim, ClaimRecord, Household, Region
from policies import benefits
from policies.errors import DomainError, InvalidInput, NotFound

APPROVAL_LIMIT = 200  # claims approved by one request at most
NOTICE = frozenset(lifecycle.ACTIONS["start_notice"].roles)
APPROVERS = frozenset(lifecycle.ACTIONS["approve"].roles)
REVIEWERS = frozenset(lifecycle.ACTIONS["record_review"].roles)

# Why a claim did not take the step, as codes the pages translate (values beside them).
REASONS = ("not_found", "not_waiting", "not_in_notice", "state", "notice_started",
           "notice_running", "start_date",
           "nothing_due", "above_limit", "role", "not_the_investigator",
           *lifecycle.APPROVAL_BARS, "other")


@dataclass
class Result:
    """What became of one claim: ``outcome`` is done, waiting (a first approval, the
    second is a supervisor's) or refused, with a reason code and its values."""

    claim_id: int
    claim_number: str | None
    outcome: str = "done"
    reason: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    message: str = ""  # the service's own words, in English (for the API)
    error: DomainError | None = field(default=None, repr=False)  # the refusal itself

    def view(self) -> dict[str, Any]:
        return {"claim_id": self.claim_id, "claim_number": self.claim_number,
                "outcome": self.outcome, "reason": self.reason,
                "values": {k: str(v) for k, v in self.values.items()},
                "message": self.message}


def _notice_days(session: Session, claim: Claim, cache: dict[int, int]) -> int:
    version = claim.terms_version_id
    if version not in cache:
        cache[version] = benefits.terms_of(benefits.get_terms_version(session,
                                                                      version)).notice_days
    return cache[version]


def notice_started(session: Session, claim: Claim) -> date | None:
    """The day the claim's current public notice started, or None while it waits for its
    start (no start_notice since the last review or objection)."""
    for record in session.exec(select(ClaimRecord).where(
            ClaimRecord.claim_id == claim.id,
            ClaimRecord.kind.in_(["start_notice", "record_review", "record_objection"]))
            .order_by(ClaimRecord.id.desc())).all():
        if record.kind != "start_notice":
            return None
        if (record.data or {}).get("start_date"):
            return date.fromisoformat(record.data["start_date"])
        return lifecycle.notice_start(session, claim)
    return None


def _refused(claim_id: int, number: str | None, error: DomainError, reason: str,
             **values: Any) -> Result:
    return Result(claim_id, number, "refused", reason, values, error.message, error)


def _reason(error: DomainError) -> str:
    if isinstance(error, NotFound):
        return "not_found"
    if isinstance(error, lifecycle.InvalidTransition):
        return "state"
    if isinstance(error, Forbidden):
        return {"amount": "above_limit", "role": "role",
                "investigator_id": "not_the_investigator"}.get(error.field or "", "other")
    if isinstance(error, InvalidInput) and error.field == "start_date":
        return "start_date"
    return "other"


def village_claims(session: Session, actor: Actor, village_id: int,
                   state: str = lifecycle.S.public_notice) -> list[Claim]:
    """The claims in ``state`` (public notice) of a village of the actor's area (403
    outside it)."""
    village = session.get(Region, village_id)
    if village is None or village.level != "village":
        raise InvalidInput(f"village {village_id} does not exist", field="village_id",
                           value=village_id)
    access.require_village(actor, village_id)
    return list(session.exec(select(Claim).join(Household, Household.id == Claim.household_id)
                             .where(Household.village_id == village_id, Claim.state == state)
                             .order_by(Claim.claim_number)).all())


def review_village(session: Session, actor: Actor, village_id: int, *,
                   claim_ids: list[int], representatives: list[str], notes: str = "",
                   disagree: dict[int, str] | None = None, today: date | None = None
                   ) -> list[Result]:
    """Record one village meeting's review of the claims it reviewed (``claim_ids``, the
    list the meeting was shown): the same representatives and notes on each, agreed, except
    the claims in ``disagree``, which the meeting did not agree to, each with its reason (the
    claim is rejected with it). The meeting's record is checked once; each claim is then its
    own step. A claim that came to wait after the list was drawn is left for the next
    meeting (it had been recorded as reviewed by one that never saw it); one listed that no
    longer waits for this village's review is listed with the reason."""
    access.require_role(actor, REVIEWERS)
    disagree = disagree or {}
    meeting = lifecycle.parse_step(lifecycle.ACTIONS["record_review"], {
        "outcome": "agree", "representatives": representatives, "notes": notes})
    claims = village_claims(session, actor, village_id, lifecycle.S.village_review)
    if not claim_ids:
        raise InvalidInput("name the claims the meeting reviewed", field="claim_ids",
                           value=0, code="choose_claims")
    numbers = {c.id: c.claim_number for c in claims if c.id in claim_ids}
    for claim_id, reason in disagree.items():
        if claim_id not in numbers:
            raise InvalidInput(f"claim {claim_id} does not wait for this village's review",
                               field="disagree", value=claim_id, code="not_in_review",
                               values={"claim": claim_id})
        if not reason.strip():
            raise InvalidInput(f"say why the meeting did not agree to claim "
                               f"{numbers[claim_id]}", field="disagree", value=claim_id,
                               code="reason_needed", values={"claim": numbers[claim_id]})
    shared = meeting.model_dump(mode="json")
    locks.claims(session, numbers)  # in id order: see _step
    return [_step(session, actor, claim_id, "record_review",
                  {**shared, "outcome": "disagree", "notes": disagree[claim_id].strip()}
                  if claim_id in disagree else shared, today=today) if claim_id in numbers
            else Result(claim_id, None, "refused", "not_waiting", {},
                        f"claim {claim_id} does not wait for this village's review")
            for claim_id in dict.fromkeys(claim_ids)]


def start_notices(session: Session, actor: Actor, village_id: int, *, claim_ids: list[int],
                  start_date: date | None = None, today: date | None = None) -> list[Result]:
    """Start the public notice of the claims of a village the posted notice lists
    (``claim_ids``, as its page showed them: a claim that came into notice since is not on
    the paper on the village's board, and waits); a claim whose notice runs already, or that
    refuses the step, or that is not in the village's notice, is listed with the reason."""
    access.require_role(actor, NOTICE)
    claims = village_claims(session, actor, village_id)
    if not claim_ids:
        raise InvalidInput("name the claims the posted notice lists", field="claim_ids",
                           value=0, code="choose_claims")
    listed = {c.id: c for c in claims if c.id in claim_ids}
    locks.claims(session, listed)  # in id order: see _step
    results = [Result(claim_id, None, "refused", "not_in_notice", {},
                      f"claim {claim_id} is not in this village's public notice")
               for claim_id in dict.fromkeys(claim_ids) if claim_id not in listed]
    for claim in listed.values():
        started = notice_started(session, claim)
        if started is not None:
            results.append(Result(claim.id, claim.claim_number, "refused", "notice_started",
                                  {"date": started}, f"the notice started on {started}"))
            continue
        results.append(_step(session, actor, claim.id, "start_notice",
                             {"start_date": start_date.isoformat()} if start_date else {},
                             today=today))
    return results


def close_notices(session: Session, actor: Actor, village_id: int, *,
                  today: date | None = None) -> list[Result]:
    """Close the public notice of every claim of a village whose period has ended without
    an objection (an objection not upheld starts the period again); the others are listed
    with the day they may be closed."""
    access.require_role(actor, NOTICE)
    claims = village_claims(session, actor, village_id)
    locks.claims(session, [c.id for c in claims])  # in id order: see _step
    return [_step(session, actor, claim.id, "close_notice", {}, today=today)
            for claim in claims]


def approve(session: Session, actor: Actor, claim_ids: list[int], note: str = "", *,
            today: date | None = None) -> list[Result]:
    """Approve each chosen claim for the whole amount due, by the same rules as one
    approval (amount limits, four eyes): within the limit it goes to payment; above an
    adjudicator's limit it waits for a supervisor's second approval; refused, listed."""
    access.require_role(actor, APPROVERS)
    if not claim_ids:
        raise InvalidInput("choose at least one claim", field="claim_ids", value=0,
                           code="choose_claims")
    if len(claim_ids) > APPROVAL_LIMIT:
        raise InvalidInput(f"{len(claim_ids)} claims at once; at most {APPROVAL_LIMIT}",
                           field="claim_ids", value=len(claim_ids), code="too_many_claims",
                           values={"count": len(claim_ids), "limit": APPROVAL_LIMIT})
    locks.claims(session, claim_ids)  # in id order: see _step
    return [_step(session, actor, claim_id, "approve", {"note": note}, today=today)
            for claim_id in dict.fromkeys(claim_ids)]


def _step(session: Session, actor: Actor, claim_id: int, action: str, data: dict[str, Any],
          *, today: date | None, cache: dict[int, int] | None = None) -> Result:
    """One claim's step in a savepoint of its own: done, or rolled back and listed. The
    callers lock their claims in id order first (claims.locks): locked in the order a request
    listed them, two requests naming the same claims in other orders deadlocked on
    PostgreSQL, and once answered 503 after 21 seconds of retries (a concurrency tester's)."""
    cache = {} if cache is None else cache
    number = None
    try:
        with session.begin_nested():
            claim = access.claim(session, actor, claim_id, lock=True)
            number = claim.claim_number
            days = _notice_days(session, claim, cache)
            if action == "approve" and claim.state == lifecycle.S.approval:
                due = lifecycle.proposed_amount(claim)
                if due <= 0:
                    return Result(claim_id, number, "refused", "nothing_due", {"due": due},
                                  f"nothing is due on claim {number}")
                bar = lifecycle.approval_bar(session, claim, actor)
                if bar is not None:
                    return Result(claim_id, number, "refused", bar, {},
                                  lifecycle.APPROVAL_BARS[bar])
                data = {**data, "amount": str(lifecycle.proposed_amount(claim))}
            lifecycle.transition(session, claim, action, actor, data=data, today=today,
                                 notice_days=days)
            if action == "approve" and claim.state == lifecycle.S.approval:
                return Result(claim_id, number, "waiting", None,
                              {"limit": actor.approval_limit})
            return Result(claim_id, number)
    except DomainError as error:
        reason = _reason(error)
        values: dict[str, Any] = {}
        if reason == "state" and action == "close_notice" and number is not None:
            claim = session.get(Claim, claim_id)
            if claim is not None and claim.state == lifecycle.S.public_notice:
                reason = "notice_running"
                values["date"] = (lifecycle.notice_start(session, claim, recorded=True)
                                  + timedelta(days=_notice_days(session, claim, cache)))
                values["end"] = values["date"] - timedelta(days=1)  # its last day
        elif reason == "state":
            values["state"] = error.value
        elif reason == "start_date":
            claim = session.get(Claim, claim_id)
            if claim is not None:
                values["date"] = lifecycle.notice_start(session, claim)
        elif reason == "above_limit":
            values["limit"] = actor.approval_limit
        return _refused(claim_id, number, error, reason, **values)

