"""Claims computed under the old reading of per-event caps (issue 15) are listed with why,
recalculated on the audit trail when open, and only reported when paid."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from claims import recalculation
from claims.auth import SYSTEM
from claims.models import AuditEntry, Claim
from tests.claims.conftest import EVENT_DATE, send
from tests.claims.test_cli import fangpin
from tests.conftest import database_url
from tests.factories import id_number


def accident(event_id, cost, days=0):
    return {"event_id": event_id, "type": "accident",
            "event_date": (EVENT_DATE + timedelta(days=days)).isoformat(),
            "id_number": id_number(seq=1), "amounts": {"cost": cost}}


def old_reading(department, session):
    """Two accidents under the demo terms (a deductible of 10,000 a year, 50%, a per-event cap
    of 30,000); the claim is set to what the old reading paid: the second accident's own
    5,000.50 plus the 15,000 the first accident's cap had cut."""
    send(department, session, accident("ACC-1", "100000.00"))
    send(department, session, accident("ACC-2", "10001.00", days=1))
    claim = session.exec(select(Claim).where(Claim.trigger == "accident")).one()
    assert claim.entitled == Decimal("35000.50")  # 45,000 capped to 30,000; + 5,000.50
    claim.entitled = Decimal("50000.50")
    events = claim.calculation["events"]
    claim.calculation = {**claim.calculation, "events": [
        events[0], {**events[1], "payout": "20000.50", "reason": "no_loss"}]}
    session.commit()
    return claim


def test_a_dry_run_lists_what_changes_and_why_and_changes_nothing(department, session, county):
    claim = old_reading(department, session)
    entries = session.exec(select(AuditEntry)).all()
    [change] = recalculation.recalculate(session, SYSTEM, dry_run=True)
    assert (change.claim_number, change.old, change.new) == (
        claim.claim_number, Decimal("50000.50"), Decimal("35000.50"))
    assert "event ACC-2: 20,000.50 → 5,000.50" in change.why
    session.refresh(claim)
    assert claim.entitled == Decimal("50000.50")
    assert session.exec(select(AuditEntry)).all() == entries


def test_an_open_claim_is_recalculated_on_the_audit_trail(department, session, county):
    claim = old_reading(department, session)
    recalculation.recalculate(session, SYSTEM, dry_run=False)
    session.commit()
    session.refresh(claim)
    assert claim.entitled == Decimal("35000.50")
    assert [e["payout"] for e in claim.calculation["events"]] == ["30000.00", "5000.50"]
    entry = session.exec(select(AuditEntry).where(
        AuditEntry.entity_id == claim.claim_number,
        AuditEntry.action == "recalculate")).all()[-1]
    assert "ACC-2" in entry.reason
    assert recalculation.recalculate(session, SYSTEM, dry_run=True) == []  # up to date


def test_a_paid_claim_is_reported_never_changed(department, session, county):
    claim = old_reading(department, session)
    claim.state, claim.approved_amount, claim.paid_amount = (
        "paid", Decimal("50000.50"), Decimal("50000.50"))
    session.commit()
    [change] = recalculation.recalculate(session, SYSTEM, dry_run=False)
    session.commit()
    assert "overpaid by 15,000.00" in change.note and "not clawed back" in change.note
    session.refresh(claim)
    assert (claim.state, claim.entitled, claim.paid_amount) == (
        "paid", Decimal("50000.50"), Decimal("50000.50"))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path_factory):
    yield from database_url(request.param, tmp_path_factory, "recalculate")


def test_the_command_line_lists_and_changes_nothing_on_a_dry_run(fresh_url):
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    assert fangpin(fresh_url, "demo", "--households", "20").returncode == 0
    listed = fangpin(fresh_url, "claims", "recalculate", "--dry-run")
    assert listed.returncode == 0, listed.stderr
    # the demo's claims were computed by this calculator: nothing differs
    assert "0 claims differ" in listed.stdout and "dry run: nothing changed" in listed.stdout
