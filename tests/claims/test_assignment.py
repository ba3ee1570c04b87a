"""Owning work (issue 17): a claim's investigator and adjudicator, each user's "my work", and a
supervisor's reassignment (one claim, a list) with a reason on the claim's audit trail, the
API and the pages calling the one service. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from claims import assignment, clock, intake, masking, people
from claims.auth import SYSTEM, forget_actors
from claims.models import AuditEntry, Claim
from policies import registry
from policies.models import RegionCreate
from tests.claims import test_web
from tests.claims.test_lifecycle import SURVEY, act, days_pass
from tests.claims.test_web import csrf_of
from tests.factories import household_with_members

PHONE = "13912345678"


@pytest.fixture
def browser(app, session):
    """test_web's signed-in browser: ``browser("clerk", "name")``."""
    yield from test_web.browser.__wrapped__(app, session)


@pytest.fixture
def team(as_user, staff, session, county):
    """The staff fixture, a second investigator and adjudicator, and an investigator of
    another township."""
    elsewhere = registry.create_region(session, RegionCreate(
        code="411081199", name="别镇", level="township", parent_id=county.ids["county"]))
    other_village = registry.create_region(session, RegionCreate(
        code="411081199200", name="别村", level="village", parent_id=elsewhere.id))
    far = as_user("investigator", "inv-far")
    people.update_user(session, SYSTEM, far.user, townships=[elsewhere.id])
    county.household.phone = PHONE
    session.commit()
    return {**staff, "investigator2": as_user("investigator", "inv2"),
            "adjudicator2": as_user("adjudicator", "adj2", approval_limit=Decimal("100000")),
            "far": far, "elsewhere": elsewhere.id, "other_village": other_village.id}


def work(client) -> dict:
    answer = client.get("/api/work")
    assert answer.status_code == 200, answer.text
    return answer.json()


def numbers(items) -> list[str]:
    return [i["claim_number"] for i in items]


def reassign(client, claim, kind, user, reason="请假调整"):
    return client.post(f"/api/claims/{claim.id}/assignment",
                       json={"kind": kind, "user_id": user.user.id, "reason": reason})


# --- assignment when the investigation starts ---------------------------------------------------

def test_an_adjudicator_who_sends_an_investigator_owns_the_decision_and_both_see_it(
        team, session, claim):
    adj, inv = team["adjudicator2"], team["investigator"]
    assert numbers(work(adj)["steps"]) == []  # not assigned yet: nobody's but a supervisor's
    assert [(i["claim_number"], i["next_step"]) for i in work(team["supervisor"])["steps"]] == [
        (claim.claim_number, "assign")]
    assert act(adj, claim, "start_investigation", {"investigator_id": inv.user.id}
               ).status_code == 200
    session.expire_all()
    assert (claim.investigator_id, claim.adjudicator_id) == (inv.user.id, adj.user.id)

    visits = work(inv)["visits"]
    assert [(v["claim_number"], v["next_step"], v["village"]) for v in visits] == [
        (claim.claim_number, "submit_survey", "村0")]
    assert visits[0]["township"] == "火龙镇"
    assert visits[0]["phone"] == masking.phone(PHONE) != PHONE
    assert visits[0]["head_name"] == masking.name("成员0")
    assert numbers(work(adj)["waiting"]) == [claim.claim_number]  # the visit is not theirs
    assert numbers(work(team["investigator2"])["visits"]) == []

    assert act(inv, claim, "submit_survey", SURVEY).status_code == 200
    assert act(team["clerk"], claim, "record_review", {
        "outcome": "agree", "representatives": ["代表甲"]}).status_code == 200
    assert numbers(work(team["clerk"])["steps"]) == [claim.claim_number]
    days_pass(session, claim, 8)
    assert act(team["clerk"], claim, "start_notice", {
        "start_date": (clock.county_today() - timedelta(days=7)).isoformat()}).status_code == 200
    assert act(team["clerk"], claim, "close_notice").status_code == 200
    assert [(i["claim_number"], i["next_step"]) for i in work(adj)["steps"]] == [
        (claim.claim_number, "approve")]
    assert numbers(work(inv)["visits"]) == []  # visited
    assert act(adj, claim, "approve", {"amount": "7500.00"}).json()["state"] == (
        "payment_pending")


def test_an_investigator_who_starts_it_is_the_investigator_and_no_adjudicator_is_set(
        team, session, claim):
    assert act(team["investigator"], claim, "start_investigation").status_code == 200
    session.expire_all()
    assert (claim.investigator_id, claim.adjudicator_id) == (team["investigator"].user.id, None)


def test_overdue_visits_are_flagged_and_the_earliest_due_comes_first(team, session, county,
                                                                     claim):
    household, _ = household_with_members(session, county.ids["village0"], number="H0009",
                                          seq_start=31)
    second = intake.apply(session, SYSTEM, household.id, "disaster", "房屋倒塌")
    session.commit()
    inv = team["investigator"]
    for c in (claim, second):
        assert act(team["adjudicator"], c, "start_investigation",
                   {"investigator_id": inv.user.id}).status_code == 200
    session.expire_all()
    second.due_date = clock.county_today() - timedelta(days=2)
    session.commit()
    visits = work(inv)["visits"]
    assert numbers(visits) == [second.claim_number, claim.claim_number]
    assert [v["overdue"] for v in visits] == [True, False]


# --- reassignment -------------------------------------------------------------------------------

def test_a_supervisor_reassigns_with_a_reason_on_the_claims_trail(team, session, claim):
    inv, inv2 = team["investigator"], team["investigator2"]
    assert act(team["adjudicator"], claim, "start_investigation",
               {"investigator_id": inv.user.id}).status_code == 200
    answer = reassign(team["supervisor"], claim, "investigator", inv2, "王查勘员病假")
    assert answer.status_code == 200 and answer.json()["investigator_id"] == inv2.user.id
    entry = session.exec(select(AuditEntry).where(
        AuditEntry.entity_id == claim.claim_number,
        AuditEntry.action == "reassign_investigator")).one()
    assert (entry.reason, entry.before, entry.after, entry.actor) == (
        "王查勘员病假", {"investigator_id": inv.user.id}, {"investigator_id": inv2.user.id},
        "user:sup")
    assert numbers(work(inv)["visits"]) == [] and numbers(work(inv2)["visits"]) == [
        claim.claim_number]
    # the adjudicator too
    answer = reassign(team["supervisor"], claim, "adjudicator", team["adjudicator2"])
    assert answer.json()["adjudicator_id"] == team["adjudicator2"].user.id
    assert numbers(work(team["adjudicator2"])["waiting"]) == [claim.claim_number]
    assert numbers(work(team["adjudicator"])["waiting"]) == []


def test_reassignment_refusals_carry_their_codes(team, session, claim):
    boss, inv = team["supervisor"], team["investigator"]
    cases = [  # before the investigation starts, the investigator is chosen by starting it
        (boss, "investigator", team["investigator2"], "调整", 409, "not_investigating")]
    for who, kind, user, reason, status, code in cases:
        answer = reassign(who, claim, kind, user, reason)
        assert (answer.status_code, answer.json().get("code")) == (status, code), answer.text
    assert act(team["adjudicator"], claim, "start_investigation",
               {"investigator_id": inv.user.id}).status_code == 200
    assert act(inv, claim, "submit_survey", SURVEY).status_code == 200
    # an investigator whose survey is done is as if never investigating; reassigning needs it
    for who, kind, user, reason, status, code in [
            (team["adjudicator"], "adjudicator", team["adjudicator2"], "调整", 403,
             "not_supervisor"),
            (boss, "adjudicator", team["adjudicator2"], " ", 422, None),  # body: min_length
            (boss, "adjudicator", team["adjudicator"], "调整", 422, "unchanged"),
            (boss, "adjudicator", team["clerk"], "调整", 422, "not_eligible"),
            (boss, "investigator", team["investigator2"], "调整", 409, "not_investigating")]:
        answer = reassign(who, claim, kind, user, reason)
        assert answer.status_code == status, (kind, answer.text)
        assert answer.json().get("code") == code, answer.text
    # the investigator, given a supervisor's account with the same ID number, may not decide
    twin = people.create_user(session, SYSTEM, username="twin", full_name="twin",
                              role="supervisor", approval_limit=Decimal("100000"))[0]
    session.get(type(inv.user), inv.user.id).id_number = twin.id_number = "11010519491231002X"
    session.commit()
    answer = boss.post(f"/api/claims/{claim.id}/assignment",
                       json={"kind": "adjudicator", "user_id": twin.id, "reason": "调整"})
    assert (answer.status_code, answer.json()["code"]) == (422, "investigated")
    # a closed claim
    assert act(boss, claim, "reject", {"code": "other", "text": "x"}).status_code == 200
    answer = reassign(boss, claim, "adjudicator", team["adjudicator2"])
    assert (answer.status_code, answer.json()["code"]) == (409, "closed")
    assert session.exec(select(AuditEntry).where(
        AuditEntry.action.like("reassign_%"))).all() == []


def test_an_investigator_of_another_township_is_not_eligible(team, session, claim):
    assert act(team["adjudicator"], claim, "start_investigation",
               {"investigator_id": team["investigator"].user.id}).status_code == 200
    answer = reassign(team["supervisor"], claim, "investigator", team["far"])
    assert (answer.status_code, answer.json()["code"]) == (422, "not_eligible")
    assert team["far"].user.id not in {
        u.id for u in assignment.eligible(session, claim, "investigator")}


def test_a_list_is_reassigned_claim_by_claim_within_the_supervisors_area(
        team, session, county, claim, as_user):
    household, _ = household_with_members(session, county.ids["village0"], number="H0009",
                                          seq_start=31)
    far_household, _ = household_with_members(session, team["other_village"], number="H0010",
                                              seq_start=41)
    near = intake.apply(session, SYSTEM, household.id, "disaster", "房屋倒塌")
    far = intake.apply(session, SYSTEM, far_household.id, "disaster", "房屋倒塌")
    session.commit()
    assert act(team["adjudicator"], claim, "start_investigation",
               {"investigator_id": team["investigator"].user.id}).status_code == 200
    township = county.ids["township"]
    local_boss = as_user("supervisor", "sup-local")
    people.update_user(session, SYSTEM, local_boss.user, townships=[township])
    session.commit()
    answer = local_boss.post("/api/claims/assignments", json={
        "claim_ids": [claim.id, near.id, far.id], "kind": "adjudicator",
        "user_id": team["adjudicator2"].user.id, "reason": "均衡工作量"})
    assert answer.status_code == 200, answer.text
    results = {r["claim_id"]: (r["reassigned"], r["code"]) for r in answer.json()["results"]}
    assert results == {claim.id: (True, None), near.id: (True, None),
                       far.id: (False, "not_found")}  # outside the area: as if missing
    assert answer.json()["reassigned"] == 2
    assert len(session.exec(select(AuditEntry).where(
        AuditEntry.action == "reassign_adjudicator")).all()) == 2
    session.expire_all()
    assert session.get(Claim, far.id).adjudicator_id is None
    # one claim outside the area is a 404, as a missing one
    answer = reassign(local_boss, far, "adjudicator", team["adjudicator2"])
    assert answer.status_code == 404


def test_my_work_stays_within_the_users_townships(team, session, claim, county):
    inv = team["investigator"]
    assert act(team["adjudicator"], claim, "start_investigation",
               {"investigator_id": inv.user.id}).status_code == 200
    assert numbers(work(inv)["visits"]) == [claim.claim_number]
    people.update_user(session, SYSTEM, inv.user, townships=[team["elsewhere"]])
    session.commit()
    forget_actors()  # the token's user is remembered for 10 seconds
    assert numbers(work(inv)["visits"]) == []  # moved to another township: not theirs to see


# --- the pages ----------------------------------------------------------------------------------

def test_my_work_is_the_start_page_and_a_supervisor_reassigns_on_the_page(
        browser, session, claim, county):
    county.household.phone = PHONE
    session.commit()
    inv = browser("investigator", "inv-p")
    adjudicator = browser("adjudicator", "adj-p")
    page = adjudicator.get(f"/claims/{claim.id}").text
    assert "您将成为本案的审核员" in page
    adjudicator.post(f"/claims/{claim.id}/actions/start_investigation",
                     data={"csrf_token": csrf_of(page), "investigator_id": inv.user.id})
    # signing in leads to my work
    token = csrf_of(inv.get("/login").text)
    answer = inv.post("/login", data={"username": "inv-p", "password": "correct horse battery",
                                      "csrf_token": token}, follow_redirects=False)
    assert answer.headers["location"] == "/work"
    mine = inv.get("/work").text
    assert "我的工作" in mine and "待入户调查的农户" in mine and claim.claim_number in mine
    assert masking.phone(PHONE) in mine and PHONE not in mine
    assert "火龙镇 · 村0" in mine
    assert "完整显示" not in mine  # no reveal permission, no reveal button

    boss = browser("supervisor", "sup-p")
    other = browser("adjudicator", "adj-q")
    page = boss.get(f"/claims/{claim.id}/assignment").text
    assert "重新分派查勘员" in page and "重新分派审核员" in page
    refused = boss.post(f"/claims/{claim.id}/assignment", data={
        "csrf_token": csrf_of(page), "kind": "adjudicator", "user_id": str(inv.user.id),
        "reason": "调整"})
    assert refused.status_code == 422
    # the investigator may not decide the claim: the four-eyes rule, in the user's language
    assert "四眼原则：调查过本案的人不能担任其审核员" in refused.text
    assert "investigated" not in refused.text
    done = boss.post(f"/claims/{claim.id}/assignment", data={
        "csrf_token": csrf_of(page), "kind": "adjudicator", "user_id": str(other.user.id),
        "reason": "调整工作量"}, follow_redirects=True)
    assert done.status_code == 200
    assert re.search(r'class="done"[^>]*>[^<]*重新分派审核员', done.text)
    # the history: who reassigned, to whom, why
    assert ("重新分派审核员</td><td>supervisor者</td><td>adjudicator者</td><td>调整工作量"
            in done.text)
    assert claim.claim_number in other.get("/work").text
    # not a supervisor: the form is not offered and a post is refused
    seen = adjudicator.get(f"/claims/{claim.id}/assignment").text
    assert "adj-q" in seen and f'action="/claims/{claim.id}/assignment"' not in seen
    assert adjudicator.post(f"/claims/{claim.id}/assignment", data={
        "csrf_token": csrf_of(page), "kind": "adjudicator", "user_id": str(other.user.id),
        "reason": "调整"}).status_code == 403


def test_the_list_page_reassigns_the_chosen_claims(browser, session, claim, county):
    inv, inv2 = browser("investigator", "inv-a"), browser("investigator", "inv-b")
    adjudicator = browser("adjudicator", "adj-a")
    page = adjudicator.get(f"/claims/{claim.id}").text
    adjudicator.post(f"/claims/{claim.id}/actions/start_investigation",
                     data={"csrf_token": csrf_of(page), "investigator_id": inv.user.id})
    boss = browser("supervisor", "sup-a")
    listed = boss.get(f"/assignments?kind=investigator&holder={inv.user.id}").text
    assert claim.claim_number in listed
    answer = boss.post("/assignments", data={
        "csrf_token": csrf_of(listed), "kind": "investigator", "holder": str(inv.user.id),
        "claim_id": [str(claim.id)], "user_id": str(inv2.user.id), "reason": "请假"})
    assert answer.status_code == 200 and "已重新分派" in answer.text
    session.expire_all()
    assert session.get(Claim, claim.id).investigator_id == inv2.user.id
    nothing = boss.post("/assignments", data={
        "csrf_token": csrf_of(listed), "kind": "investigator", "user_id": str(inv2.user.id),
        "claim_id": [str(claim.id)], "reason": "请假"})
    assert nothing.status_code == 409 and "此人已是本案的承办人" in nothing.text
    assert adjudicator.get("/assignments").status_code == 403


def test_visits_come_in_due_date_order_with_overdue_flagged_on_generated_dates(
        team, session, county, claim):
    """An outside check: claims with generated due dates (some past, some the same day, some
    none) are listed as Python's own sort of (no date last, date, id) orders them."""
    import random

    rng = random.Random(17)
    inv = team["investigator"]
    claims = [claim]
    for n in range(7):
        household, _ = household_with_members(session, county.ids["village0"],
                                              number=f"H01{n:02d}", seq_start=100 + 10 * n)
        claims.append(intake.apply(session, SYSTEM, household.id, "disaster", "房屋倒塌"))
    session.commit()
    for c in claims:
        assert act(team["adjudicator"], c, "start_investigation",
                   {"investigator_id": inv.user.id}).status_code == 200
    session.expire_all()
    today = clock.county_today()
    for c in claims:
        fresh = session.get(Claim, c.id)
        fresh.due_date = rng.choice([None, today, today + timedelta(days=rng.randint(-9, 9)),
                                     today - timedelta(days=3)])
    session.commit()
    fresh = [session.get(Claim, c.id) for c in claims]
    expected = sorted(fresh, key=lambda c: (c.due_date is None, c.due_date or today, c.id))
    visits = work(inv)["visits"]
    assert numbers(visits) == [c.claim_number for c in expected]
    assert [v["overdue"] for v in visits] == [
        c.due_date is not None and c.due_date < today for c in expected]
    assert any(v["overdue"] for v in visits) and not all(v["overdue"] for v in visits)


def test_my_work_and_a_refusal_read_in_english(browser, session, claim):
    inv = browser("investigator", "inv-en", language="en")
    boss = browser("supervisor", "sup-en", language="en")
    adjudicator = browser("adjudicator", "adj-en")
    page = adjudicator.get(f"/claims/{claim.id}").text
    adjudicator.post(f"/claims/{claim.id}/actions/start_investigation",
                     data={"csrf_token": csrf_of(page), "investigator_id": inv.user.id})
    mine = inv.get("/work").text
    assert "Households to visit" in mine and "我的工作" not in mine
    page = boss.get(f"/claims/{claim.id}/assignment").text
    refused = boss.post(f"/claims/{claim.id}/assignment", data={
        "csrf_token": csrf_of(page), "kind": "adjudicator", "user_id": str(inv.user.id),
        "reason": "x"})
    assert refused.status_code == 422 and "Give the reason (at least 2 characters)." in (
        refused.text)


def test_a_visits_phone_is_shown_in_full_only_through_the_audited_reveal(
        browser, session, claim, county):
    county.household.phone = PHONE
    session.commit()
    inv = browser("investigator", "inv-r", may_reveal=True)
    adjudicator = browser("adjudicator", "adj-r")
    page = adjudicator.get(f"/claims/{claim.id}").text
    adjudicator.post(f"/claims/{claim.id}/actions/start_investigation",
                     data={"csrf_token": csrf_of(page), "investigator_id": inv.user.id})
    mine = inv.get("/work").text
    reveal = f"/work/households/{county.household.id}/reveal"
    assert PHONE not in mine and f'action="{reveal}"' in mine
    shown = inv.post(reveal, data={"csrf_token": csrf_of(mine)})
    assert shown.status_code == 200 and PHONE in shown.text and "成员0" in shown.text
    assert session.exec(select(AuditEntry).where(
        AuditEntry.action == "reveal", AuditEntry.actor == "user:inv-r")).one()
    assert PHONE not in inv.get("/work").text  # once: the next visit is masked again
    # without the permission: refused, nothing on the trail
    other = browser("investigator", "inv-s")
    refused = other.post(reveal, data={"csrf_token": csrf_of(other.get("/work").text)})
    assert refused.status_code == 403 and PHONE not in refused.text


def test_nobody_is_given_a_claim_of_their_own_household(team, session, claim, county):
    """A hostile tester's adjudicator carried the ID number of a member of the claimant's
    household and was made the claim's adjudicator: refused only when approving, the claim
    in their work meanwhile. Neither an adjudicator nor an investigator of the household is
    offered or given its claim."""
    boss, inv = team["supervisor"], team["investigator"]
    relative = team["adjudicator2"].user
    relative.id_number = county.members[1].id_number
    session.add(relative)
    session.commit()
    assert act(team["adjudicator"], claim, "start_investigation",
               {"investigator_id": inv.user.id}).status_code == 200
    answer = reassign(boss, claim, "adjudicator", team["adjudicator2"])
    assert (answer.status_code, answer.json()["code"]) == (422, "own_household"), answer.text
    session.expire_all()
    chosen = session.get(Claim, claim.id)
    assert relative.id not in {u.id for u in assignment.eligible(session, chosen, "adjudicator")}
    cousin = team["investigator2"].user
    cousin.id_number = county.members[2].id_number
    session.add(cousin)
    session.commit()
    assert cousin.id not in {u.id for u in assignment.eligible(session, chosen, "investigator")}
    sent = reassign(boss, claim, "investigator", team["investigator2"])
    assert (sent.status_code, sent.json()["code"]) == (422, "own_household"), sent.text


def test_nobody_takes_a_step_on_a_claim_of_their_own_household(team, session, claim, county):
    """A re-tester's adjudicator of the claimant's household started the investigation,
    became its adjudicator, and rejected the claim (approving was refused); sending an
    investigator of the household was refused as 'not an investigator of the township'."""
    relative = team["adjudicator"].user
    relative.id_number = county.members[1].id_number
    cousin = team["investigator2"].user
    cousin.id_number = county.members[2].id_number
    session.add_all([relative, cousin])
    session.commit()
    for action, body in (("start_investigation", {"investigator_id": team[
            "investigator"].user.id}), ("reject", {"code": "other", "text": "不符合"})):
        refused = act(team["adjudicator"], claim, action, body)
        assert (refused.status_code, refused.json()["code"]) == (403, "own_household"), action
    sent = act(team["adjudicator2"], claim, "start_investigation",
               {"investigator_id": cousin.id})
    assert (sent.status_code, sent.json()["code"]) == (422, "own_household"), sent.text
    session.expire_all()
    assert session.get(Claim, claim.id).state == "opened"
