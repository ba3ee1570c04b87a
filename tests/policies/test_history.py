"""Registry history (登记历史): every writer of a member or household leaves exactly the
versions a past day's features must read, on SQLite and PostgreSQL."""

import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from policies import demo, history, registry
from policies.errors import InvalidInput
from policies.household_import import import_households
from policies.models import (
    Household,
    HouseholdUpdate,
    HouseholdVersion,
    Member,
    MemberUpdate,
    MemberVersion,
)
from tests.factories import county_with_villages, household_with_members, id_number
from tests.files import csv_bytes
from tests.policies.test_household_import import ZH, rows_zh

DAY1, DAY2 = date(2026, 3, 2), date(2026, 5, 11)


@pytest.fixture
def today(monkeypatch):
    """The county's date, set by the test: ``today.set(day)``."""

    class Clock:
        day = DAY1

        def set(self, day):
            self.day = day

    clock = Clock()
    monkeypatch.setattr(history, "clock", lambda: clock.day)
    return clock


@pytest.fixture
def places(session):
    ids = county_with_villages(session, villages=2)
    session.commit()  # as a clerk's earlier work: a request's rollback must not undo it
    return ids


def household_versions(session, household_id):
    return session.exec(select(HouseholdVersion).where(
        HouseholdVersion.household_id == household_id).order_by(HouseholdVersion.valid_from)
    ).all()


def member_versions(session, member_id):
    return session.exec(select(MemberVersion).where(
        MemberVersion.member_id == member_id).order_by(MemberVersion.valid_from)).all()


def version_count(session):
    return (session.exec(select(sa.func.count(HouseholdVersion.id))).one(),
            session.exec(select(sa.func.count(MemberVersion.id))).one())


def out_of_step(session) -> dict[str, list[int]]:
    """Rows whose history does not end in exactly one open version equal to the row itself:
    what a writer that forgot history leaves behind."""
    found = {}
    for name, table, version, key, fields in (
            ("household", Household.__table__, HouseholdVersion.__table__, "household_id",
             history.HOUSEHOLD_FIELDS),
            ("member", Member.__table__, MemberVersion.__table__, "member_id",
             history.MEMBER_FIELDS)):
        open_ = version.alias("open_version")
        opens = (sa.select(sa.func.count()).select_from(version)
                 .where(version.c[key] == table.c.id, version.c.valid_to.is_(None))
                 .scalar_subquery())
        differs = sa.or_(*[table.c[f].is_distinct_from(open_.c[f]) for f in fields])
        query = (sa.select(table.c.id)
                 .outerjoin(open_, sa.and_(open_.c[key] == table.c.id,
                                           open_.c.valid_to.is_(None)))
                 .where(sa.or_(open_.c.id.is_(None), opens != 1, differs)))
        found[name] = sorted(session.execute(query).scalars())
    return found


# ------------------------------------------------------------------ the ORM services


def test_a_registered_household_and_members_get_one_version_from_that_day(session, places,
                                                                           today):
    household, people = household_with_members(session, places["village0"], members=2)
    [version] = household_versions(session, household.id)
    assert (version.valid_from, version.valid_to) == (DAY1, None)
    assert (version.village_id, version.household_type) == (places["village0"], "lifted_out")
    for member in people:
        [version] = member_versions(session, member.id)
        assert (version.valid_from, version.valid_to, version.household_id) == (
            DAY1, None, household.id)


def test_a_change_closes_the_old_version_and_opens_a_new_one(session, places, today):
    household, [head, son] = household_with_members(session, places["village0"], members=2)
    today.set(DAY2)
    registry.update_household(session, household.id,
                              HouseholdUpdate(monitoring_category="sudden_hardship"))
    registry.update_member(session, son.id, MemberUpdate(health="serious_illness",
                                                         disability_grade=2))
    old, new = household_versions(session, household.id)
    assert (old.valid_from, old.valid_to, old.monitoring_category) == (DAY1, DAY2, None)
    assert (new.valid_from, new.valid_to, new.monitoring_category) == (
        DAY2, None, "sudden_hardship")
    old, new = member_versions(session, son.id)
    assert (old.valid_to, old.health, old.disability_grade) == (DAY2, "healthy", None)
    assert (new.valid_from, new.health, new.disability_grade) == (DAY2, "serious_illness", 2)
    assert len(member_versions(session, head.id)) == 1  # the head did not change


def test_a_second_change_the_same_day_replaces_that_days_version(session, places, today):
    household, _ = household_with_members(session, places["village0"], members=1)
    today.set(DAY2)
    registry.update_household(session, household.id,
                              HouseholdUpdate(monitoring_category="marginal"))
    registry.update_household(session, household.id,
                              HouseholdUpdate(monitoring_category="sudden_hardship"))
    versions = household_versions(session, household.id)
    assert [(v.valid_from, v.valid_to, v.monitoring_category) for v in versions] == [
        (DAY1, DAY2, None), (DAY2, None, "sudden_hardship")]


def test_a_save_that_changes_nothing_kept_in_history_writes_nothing(session, places, today):
    household, [head] = household_with_members(session, places["village0"], members=1)
    before = version_count(session)
    today.set(DAY2)
    registry.update_household(session, household.id, HouseholdUpdate(
        household_type="lifted_out", phone="13800000009", bank_name="农村信用社"))
    registry.update_member(session, head.id, MemberUpdate(health="healthy", name="改名",
                                                          pension=True))
    assert version_count(session) == before
    assert out_of_step(session) == {"household": [], "member": []}


# ------------------------------------------------------------------ the API routes


def test_every_registry_route_that_writes_keeps_history(client, session, places, today):
    created = client.post("/api/households", json={
        "household_number": "A0001", "village_id": places["village0"],
        "household_type": "ordinary"})
    assert created.status_code == 201, created.text
    household_id = created.json()["id"]
    member = client.post("/api/members", json={
        "household_id": household_id, "name": "赵一", "id_number": id_number(seq=41),
        "relation": "head"})
    assert member.status_code == 201, member.text
    member_id = member.json()["id"]
    today.set(DAY2)
    assert client.patch(f"/api/households/{household_id}",
                        json={"village_id": places["village1"]}).status_code == 200
    assert client.patch(f"/api/members/{member_id}",
                        json={"labour_skill": "weak"}).status_code == 200
    assert [(v.valid_from, v.village_id) for v in household_versions(session, household_id)] == [
        (DAY1, places["village0"]), (DAY2, places["village1"])]
    assert [(v.valid_from, v.labour_skill) for v in member_versions(session, member_id)] == [
        (DAY1, "ordinary"), (DAY2, "weak")]
    assert out_of_step(session) == {"household": [], "member": []}


# ------------------------------------------------------------------ the bulk writers


def test_the_household_import_versions_what_it_creates_and_changes(session, places, today):
    report = import_households(session, csv_bytes(ZH, rows_zh()), "export.csv")
    assert report.written and not report.errors
    assert version_count(session) == (2, 3)
    assert out_of_step(session) == {"household": [], "member": []}

    today.set(DAY2)
    again = import_households(session, csv_bytes(ZH, rows_zh()), "export.csv")
    assert again.households_unchanged == 2
    assert version_count(session) == (2, 3)  # the same file: no new version

    rows = rows_zh()
    rows[0][8] = rows[1][8] = ""  # H0001 leaves monitoring …
    rows[1][10] = "一级"  # … and the spouse's disability grade is now 一级
    rows[2][9] = "13900000000"  # H0002 changed its phone only: no new version
    changed = import_households(session, csv_bytes(ZH, rows), "export.csv")
    assert changed.households_updated == 2 and changed.members_updated == 1
    h1 = session.exec(select(Household).where(Household.household_number == "H0001")).one()
    h2 = session.exec(select(Household).where(Household.household_number == "H0002")).one()
    assert [(v.valid_from, v.valid_to, v.monitoring_category)
            for v in household_versions(session, h1.id)] == [
        (DAY1, DAY2, "unstable_lifted_out"), (DAY2, None, None)]
    assert len(household_versions(session, h2.id)) == 1
    spouse = session.exec(select(Member).where(Member.id_number == id_number(seq=2))).one()
    assert [(v.valid_from, v.disability_grade) for v in member_versions(session, spouse.id)] == [
        (DAY1, 2), (DAY2, 1)]
    assert version_count(session) == (3, 4)
    assert out_of_step(session) == {"household": [], "member": []}

    rows[1][11] = "丧失劳动力"  # a second export the same day replaces that day's version
    import_households(session, csv_bytes(ZH, rows), "export.csv")
    assert [(v.valid_from, v.valid_to, v.labour_skill)
            for v in member_versions(session, spouse.id)] == [
        (DAY1, DAY2, "weak"), (DAY2, None, "lost")]
    assert out_of_step(session) == {"household": [], "member": []}


def test_past_years_exports_imported_oldest_first_give_the_registry_its_past(session, places,
                                                                            today):
    first, second = date(2023, 12, 31), date(2024, 12, 31)
    rows = rows_zh()
    import_households(session, csv_bytes(ZH, rows), "2023.csv", as_of=first)
    rows[0][8] = rows[1][8] = ""  # H0001 left monitoring in 2024
    rows[1][10] = "一级"
    import_households(session, csv_bytes(ZH, rows), "2024.csv", as_of=second)
    h1 = session.exec(select(Household).where(Household.household_number == "H0001")).one()
    assert [(v.valid_from, v.valid_to, v.monitoring_category)
            for v in household_versions(session, h1.id)] == [
        (first, second, "unstable_lifted_out"), (second, None, None)]
    spouse = session.exec(select(Member).where(Member.id_number == id_number(seq=2))).one()
    assert [(v.valid_from, v.valid_to, v.disability_grade)
            for v in member_versions(session, spouse.id)] == [(first, second, 2),
                                                              (second, None, 1)]
    assert out_of_step(session) == {"household": [], "member": []}

    with pytest.raises(InvalidInput, match="in the order of their days") as refused:
        import_households(session, csv_bytes(ZH, rows_zh()), "2023.csv", as_of=first)
    assert refused.value.field == "as_of"
    with pytest.raises(InvalidInput, match="after today"):
        import_households(session, csv_bytes(ZH, rows), "2027.csv", as_of=date(2027, 1, 1))
    assert len(household_versions(session, h1.id)) == 2


def test_the_demo_county_starts_with_a_version_of_every_row(session, today):
    demo.build_demo_county(session, households=30, seed=3, year=2025)
    assert out_of_step(session) == {"household": [], "member": []}
    starts = set(session.exec(select(HouseholdVersion.valid_from)).all())
    assert starts == {date(2023, 1, 1)}


def test_the_simulated_county_keeps_its_registry_in_step_with_its_history(session):
    from risk import simulator

    simulator.simulate_county(session, households=200, seed=11)
    assert out_of_step(session) == {"household": [], "member": []}


# ------------------------------------------------------------------ no writer forgets


ROOT = Path(__file__).resolve().parents[2]
# Code that writes the member or household table itself (not through the ORM, whose flush hook
# versions every change): a bulk insert or update, a Core statement, raw SQL.
CORE_WRITE = re.compile(
    r"(insert_columns|update_columns|insert_new_returning)\(\s*\w+\s*,\s*(Member|Household)"
    r"\.__table__"
    r"|sa\.(insert|update|delete)\(\s*(Member|Household)\b"
    r"|\b(Member|Household)\.__table__\.(insert|update|delete)\("
    r"|\b(INSERT INTO|UPDATE|DELETE FROM|COPY)\s+(member|household)\b")
# Each module that writes them so is exercised by a test above that checks out_of_step()
# afterwards (the simulator writes its registry changes over the years with their versions).
WALKED = {"policies/household_import.py", "policies/demo.py", "risk/simulator.py"}
# Writers whose rows never reach a registry the risk model reads, with the reason.
EXEMPT = {"scripts/bench_import.py": "the floor the import is timed against, on a scratch "
                                     "database"}


def writes_registry(text: str) -> bool:
    """Whether source text writes the member or household table past the ORM, directly or
    through a name given to the table (``table = Member.__table__``)."""
    if CORE_WRITE.search(text):
        return True
    for alias in set(re.findall(r"(\w+)\s*=\s*(?:Member|Household)\.__table__\b", text)):
        if re.search(rf"(insert_columns|update_columns|insert_new_returning)\(\s*\w+\s*,\s*"
                     rf"{alias}\b|sa\.(insert|update|delete)\(\s*{alias}\b|\b{alias}\."
                     r"(insert|update|delete)\(", text):
            return True
    return False


def test_the_scan_sees_each_way_of_writing():
    assert writes_registry("insert_columns(session, Member.__table__, rows)")
    assert writes_registry("t = Household.__table__\nsession.execute(t.update().values(x=1))")
    assert writes_registry("homes = Household.__table__\nupdate_columns(session, homes, 'id', v)")
    assert writes_registry('connection.exec_driver_sql("UPDATE household SET status = 1")')
    assert not writes_registry("t = Member.__table__\nsession.execute(sa.select(t.c.id))")


def test_every_module_that_writes_members_or_households_is_walked_above():
    writers = {str(path.relative_to(ROOT)) for folder in ("policies", "claims", "risk", "scripts")
               for path in (ROOT / folder).rglob("*.py")
               if "migrations" not in path.parts and writes_registry(path.read_text("utf-8"))}
    unwalked = writers - WALKED - set(EXEMPT)
    assert not unwalked, (
        f"{sorted(unwalked)} write members or households past the ORM: write their versions "
        "there (policies.history.record or backfill) and add the module to a test here that "
        "checks out_of_step()")


def registry_state(session) -> tuple:
    """Every household's and member's kept fields: what a route changed, if anything."""
    return tuple(tuple(session.execute(sa.select(table.c.id, *[table.c[f] for f in fields])
                                       .order_by(table.c.id)).all())
                 for table, fields in ((Household.__table__, history.HOUSEHOLD_FIELDS),
                                       (Member.__table__, history.MEMBER_FIELDS)))


# Valid requests for the routes that must change the registry (the access walk's bodies are
# made to be refused or accepted, not to write).
REGISTRY_WRITES = {
    ("POST", "/api/households"): lambda w: {"json": {
        "household_number": "W0001", "village_id": w["village_A"],
        "household_type": "ordinary"}},
    ("PATCH", "/api/households/{household_id}"): lambda w: {"json": {
        "monitoring_category": "marginal"}},
    ("POST", "/api/members"): lambda w: {"json": {
        "household_id": w["household_id_A"], "name": "新成员", "relation": "son",
        "id_number": id_number(seq=77)}},
    ("PATCH", "/api/members/{member_id}"): lambda w: {"json": {"health": "chronic"}},
    ("POST", "/api/imports/households"): lambda w: {"files": {"file": ("export.csv", csv_bytes(
        ["户编号", "行政村代码", "姓名", "证件号码", "与户主关系", "户类型", "监测对象类别"],
        [["W0002", "411081100200", "钱二", id_number(seq=78), "户主", "一般户", ""],
         ["H0001", "411081100200", "成员0", w["id_number_A"], "户主", "脱贫户", "边缘易致贫户"],
         ["H0001", "411081100200", "孙三", id_number(seq=79), "之女", "脱贫户",
          "边缘易致贫户"]]))}},
}


def test_no_route_of_the_app_changes_the_registry_without_history(app, session):
    """Every route that writes, called once as an administrator: afterwards each household
    and member still has exactly one open version equal to the row, and the routes that
    must change the registry did (a new route that changes it is checked the same way)."""
    from tests.claims.test_access import _call, _walkers, _world, routes

    world = _world(session)
    admin = next(w for w in _walkers(app, session, world) if w.role == "admin")
    connection = session.bind
    changed, broken = set(), []
    for n, (method, path) in enumerate(routes(app)):
        if method == "GET":
            continue
        session.close()
        savepoint = connection.begin_nested()
        try:
            before = registry_state(session)
            if (method, path) in REGISTRY_WRITES:
                url = re.sub(r"{(\w+)}", lambda m: str(world[m.group(1) + "_A"]), path)
                answer = admin.client.request(method, url, **REGISTRY_WRITES[(method, path)](
                    world))
                assert answer.status_code < 300, f"{method} {path}: {answer.text}"
            else:
                _call(admin, method, path, world, "A", n)
            session.close()
            if registry_state(session) != before:
                changed.add((method, path))
                if out_of_step(session) != {"household": [], "member": []}:
                    broken.append(f"{method} {path}: {out_of_step(session)}")
        finally:
            session.close()
            savepoint.rollback()
    admin.client.close()
    assert not broken, broken
    assert set(REGISTRY_WRITES) <= changed, set(REGISTRY_WRITES) - changed
