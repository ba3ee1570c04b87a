"""The fangpin command on a real database, run in this process by default and as a separate
process, as a clerk runs it, with FANGPIN_TEST_CLI=process (tests/cli.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from claims import migrate
from claims.settings import Settings
from tests.cli import fangpin
from tests.conftest import database_url
from tests.factories import id_number
from tests.files import csv_bytes


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path_factory):
    yield from database_url(request.param, tmp_path_factory, "cli")


def test_migrate_seed_and_import_from_the_command_line(fresh_url, tmp_path):
    upgraded = fangpin(fresh_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert f"schema revision: {head}" in upgraded.stdout

    seeded = fangpin(fresh_url, "demo", "--households", "40", "--seed", "3")
    assert seeded.returncode == 0, seeded.stderr
    assert "40 households" in seeded.stdout
    again = fangpin(fresh_url, "demo", "--if-empty")
    assert again.returncode == 0 and "not seeded" in again.stdout
    refused = fangpin(fresh_url, "demo")
    assert refused.returncode == 1 and "already in this database" in refused.stderr

    path = tmp_path / "export.csv"
    header = ["户编号", "行政村代码", "姓名", "证件号码", "与户主关系", "户类型"]
    rows = [["NEW1", "411081100200", "张三", id_number(region="410102", seq=1), "户主",
             "脱贫户"]]
    path.write_bytes(csv_bytes(header, rows, encoding="gbk"))
    first = fangpin(fresh_url, "import", "households", str(path))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "households 1 new" in first.stdout and "(gb18030)" in first.stdout
    second = fangpin(fresh_url, "import", "households", str(path))
    assert "households 0 new, 0 updated, 1 unchanged" in second.stdout

    rows.append(["NEW2", "999", "李四", "123", "户主", "脱贫户"])
    path.write_bytes(csv_bytes(header, rows, encoding="gbk"))
    report = tmp_path / "errors.csv"
    bad = fangpin(fresh_url, "import", "households", str(path), "--report", str(report))
    assert bad.returncode == 1
    assert "row 3: id_number = '123'" in bad.stdout
    assert "nothing written" in bad.stdout
    assert "village_code" in report.read_text(encoding="utf-8-sig")

    reports = tmp_path / "reports.csv"
    reports.write_text("户编号,起始日期,截止日期,工资性收入\nNEW1,2026-01-01,2026-03-31,3000\n"
                       "NOPE,2026-01-01,2026-03-31,1\n", encoding="utf-8")
    refused = fangpin(fresh_url, "import", "income-reports", str(reports))
    assert refused.returncode == 1 and "nothing written" in refused.stdout
    assert "row 3: household_number = 'NOPE': no household" in refused.stdout
    partial = fangpin(fresh_url, "import", "income-reports", str(reports), "--partial")
    assert "written: 1 new reports, 0 unchanged, 1 rows skipped" in partial.stdout

    monitored = fangpin(fresh_url, "monitor")
    assert monitored.returncode == 0, monitored.stderr
    assert "monitoring run 1: 0 windows evaluated" in monitored.stdout


def test_placeholder_secret_is_refused_in_production():
    with pytest.raises(ValueError, match="FANGPIN_SECRET_KEY"):
        Settings(environment="production", secret_key="change-me")
    with pytest.raises(ValueError, match="FANGPIN_SECRET_KEY"):
        Settings(environment="production", secret_key="short-but-not-a-placeholder")
    assert Settings(environment="development").environment == "development"
    real = "x" * 40
    with pytest.raises(ValueError, match="FANGPIN_AUDIT_KEY"):
        Settings(environment="production", secret_key=real)
    assert Settings(environment="production", secret_key=real, audit_key="y" * 40
                    ).secret_key.get_secret_value() == real


TERMS_DIR = Path(__file__).resolve().parents[2] / "policies" / "county_terms"


def test_terms_validate_and_quote_need_no_database(tmp_path):
    ok = fangpin("sqlite:///unused.db", "terms", "validate", *map(str, TERMS_DIR.glob("*.toml")))
    assert ok.returncode == 0 and ok.stdout.count(": ok —") >= 8
    broken = tmp_path / "broken.toml"
    broken.write_text((TERMS_DIR / "nanzhang-2018.toml").read_text(encoding="utf-8")
                      .replace('ratio = "0.90"', 'ratio = "9.0"'), encoding="utf-8")
    bad = fangpin("sqlite:///unused.db", "terms", "validate", str(broken))
    assert bad.returncode == 1
    assert f"{broken}: triggers.illness.bands[3].ratio:" in bad.stderr

    events = tmp_path / "events.json"
    events.write_text(json.dumps({
        "household": {"household_type": "lifted_out"},
        "events": [{"event_id": "1", "type": "illness", "event_date": "2021-05-01",
                    "id_number": id_number(seq=1),
                    "amounts": {"total_cost": "233900", "basic_insurance_paid": "74800"}}],
    }), encoding="utf-8")
    quoted = fangpin("sqlite:///unused.db", "terms", "quote",
                     str(TERMS_DIR / "jingshan-2021.toml"), str(events))
    assert quoted.returncode == 0, quoted.stderr
    result = json.loads(quoted.stdout)
    assert result["due"] == "159100.00"
    assert result["events"][0]["trace"][-1]["text"] == "payout for this event 159,100.00"


def test_terms_load_and_fund_show_on_a_database(fresh_url):
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    assert fangpin(fresh_url, "demo", "--households", "20").returncode == 0
    loaded = fangpin(fresh_url, "terms", "load", str(TERMS_DIR / "yuzhou-demo-2026.toml"),
                     "--key", "yuzhou-2026-b")
    assert loaded.returncode == 0 and "version 1" in loaded.stdout, loaded.stderr
    again = fangpin(fresh_url, "terms", "load", str(TERMS_DIR / "yuzhou-demo-2026.toml"),
                    "--key", "yuzhou-2026-b")
    assert "already stored" in again.stdout
    shown = fangpin(fresh_url, "fund", "show", "1", "--as-of", "2026-06-30")
    assert shown.returncode == 0, shown.stderr
    assert "premium" in shown.stdout and "projected shortfall" in shown.stdout
    early = fangpin(fresh_url, "fund", "settle", "1")
    assert early.returncode == 1 and "settle after it" in early.stderr


def test_staff_departments_event_files_and_the_audit_trail(fresh_url, tmp_path):
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    seeded = fangpin(fresh_url, "demo", "--households", "10", "--logins-file",
                     str(tmp_path / "logins.txt"))
    logins = (tmp_path / "logins.txt").read_text(encoding="utf-8")
    assert "demo logins written" in seeded.stdout and "fpu_" not in seeded.stdout
    assert "adjudicator" in logins and "fpu_" in logins and "fpk_" in logins
    added = fangpin(fresh_url, "users", "zhang", "--role", "supervisor",
                    "--approval-limit", "20000")
    assert added.returncode == 0 and "token, shown once: fpu_" in added.stdout
    piped = fangpin(fresh_url, "password", "zhang", "--stdin",
                    input="Long enough pass 2026\r\n")  # a Windows line ending
    assert piped.returncode == 0, piped.stderr
    from sqlmodel import Session as Orm

    from claims.db import make_engine as engine_of
    from claims.web import session as web_session

    with Orm(checked := engine_of(fresh_url)) as orm:
        web_session.sign_in(orm, "zhang", "Long enough pass 2026")  # no \r kept in it
    checked.dispose()
    renewed = fangpin(fresh_url, "token", "zhang")
    assert renewed.returncode == 0 and "new API token, shown once" in renewed.stdout
    assert renewed.stdout.split()[-1] != added.stdout.split()[-1]
    assert fangpin(fresh_url, "token", "nobody").returncode == 2
    # a user of some townships, as the API makes one (a hostile tester found no way here)
    import sqlalchemy as sa

    from claims.db import make_engine

    engine = make_engine(fresh_url)
    with engine.connect() as connection:
        township, village = (connection.execute(sa.text(
            f"SELECT id FROM region WHERE level = '{level}' ORDER BY id")).first()[0]
            for level in ("township", "village"))
    engine.dispose()
    limited = fangpin(fresh_url, "users", "wang", "--role", "clerk", "--townships",
                      str(township))
    assert limited.returncode == 0, limited.stderr
    assert f"user wang (clerk, townships {township})" in limited.stdout
    refused = fangpin(fresh_url, "users", "li", "--role", "clerk", "--townships",
                      f"{township},{village}")
    assert refused.returncode == 1 and f"{village} is not a township" in refused.stderr
    assert fangpin(fresh_url, "users", "li", "--role", "clerk",
                   "--townships", "四").returncode == 2
    # whose account it is, so that the four-eyes rules know the person (a hostile tester
    # found only the API's creation of a user could say)
    person = id_number(seq=901)
    assert fangpin(fresh_url, "users", "zhao", "--role", "adjudicator",
                   "--id-number", person).returncode == 0
    twice = fangpin(fresh_url, "users", "zhao2", "--role", "supervisor", "--id-number", person)
    assert twice.returncode == 1 and "same person" in twice.stderr
    events = tmp_path / "events.csv"
    events.write_bytes(csv_bytes(["事件编号", "事件类型", "发生日期", "证件号码", "医疗总费用"], [
        ["E1", "因病", "2999-01-01", id_number(seq=1), "1000"],
        ["E2", "因病", "2020-01-01", id_number(seq=1), "1000"],
        ["E3", "因病", "2020-01-01", id_number(seq=1), "1,00"]]))  # refused as it is read
    imported = fangpin(fresh_url, "import", "events", str(events), "--source",
                       "medical_insurance")
    assert imported.returncode == 1, imported.stderr
    assert "E1: event_date:" in imported.stdout
    assert "E3: " in imported.stdout
    assert "1 accepted, 2 rejected" in imported.stdout  # every refused row counted
    assert "evaluated: 1 quarantined" in imported.stdout
    verified = fangpin(fresh_url, "audit", "verify")
    assert verified.returncode == 0 and "audit trail intact" in verified.stdout
    elsewhere = fangpin(fresh_url, "audit", "verify", "--anchors", str(tmp_path / "none"))
    assert elsewhere.returncode == 1 and "no file of anchors" in elsewhere.stdout


def test_a_department_key_is_shown_only_once_it_is_kept(fresh_url):
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    bogus = fangpin(fresh_url, "departments", "新部门", "--organisation", "education",
                    "--event-types", "bogus")
    assert bogus.returncode == 1 and "fpk_" not in bogus.stdout, bogus.stdout
    assert "unknown event type" in bogus.stderr
    empty = fangpin(fresh_url, "departments", "新部门", "--organisation", "education",
                    "--event-types", " , ")  # an empty variable in a script
    assert empty.returncode == 2 and "fpk_" not in empty.stdout
    assert "names no event type" in empty.stderr
    unnamed = fangpin(fresh_url, "departments", " ", "--organisation", "education")
    assert unnamed.returncode == 1 and "fpk_" not in unnamed.stdout
    kept = fangpin(fresh_url, "departments", "新部门", "--organisation", "education",
                   "--event-types", "education")
    assert kept.returncode == 0 and "API key, shown once: fpk_" in kept.stdout
    assert "may send: education" in kept.stdout
    # a second key of the same name could not be told apart by the commands that name one
    twice = fangpin(fresh_url, "departments", "新部门", "--organisation", "education")
    assert twice.returncode == 1 and "fpk_" not in twice.stdout
    assert "named 新部门 already" in twice.stderr
    assert fangpin(fresh_url, "departments", "新部门", "--event-types",
                   "education").returncode == 0  # the one named is still found


@pytest.mark.parametrize(("args", "words"), [
    (["evaluate", "--follow", "--poll", "0"], "seconds from 0.05"),
    (["evaluate", "--follow", "--poll", "inf"], "seconds from 0.05"),
    (["demo", "--households", "-5"], "number of households"),
    (["import", "annual-records", "x.csv", "--lag-days", "-400"], "whole number"),
    (["import", "households", "x.csv", "--report", "/nonexistent/x/r.csv"], "no such folder"),
    # the API's rules of a user: its name, its limit
    (["users", "", "--role", "clerk"], "username"),
    (["users", "a b<script>", "--role", "clerk"], "username"),
    (["users", "bob", "--role", "clerk", "--approval-limit", "-5"], "approval_limit"),
    (["users", "bob", "--role", "clerk", "--approval-limit", "NaN"], "approval_limit"),
])
def test_options_out_of_range_are_refused_before_anything_runs(tmp_path, args, words):
    answer = fangpin(f"sqlite:///{tmp_path}/unused.db", *args)
    assert answer.returncode == 2 and words in answer.stderr, answer.stderr
    assert not (tmp_path / "unused.db").exists()


def test_evaluate_in_lanes_side_by_side(fresh_url):
    """`fangpin evaluate --lanes 2` evaluates every waiting event in two processes on
    PostgreSQL; SQLite, which writes one transaction at a time, is refused with the reason."""
    from datetime import date, timedelta

    from sqlmodel import Session, select

    from claims import intake
    from claims.auth import SYSTEM, actor_for_client
    from claims.db import make_engine
    from claims.models import TriggerEvent
    from claims.people import create_client
    from policies.models import Member

    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    assert fangpin(fresh_url, "demo", "--households", "30", "--seed", "4").returncode == 0
    engine = make_engine(fresh_url)
    with Session(engine) as session:
        client, _ = create_client(session, SYSTEM, "应急管理局", "emergency_management")
        numbers = session.exec(select(Member.id_number).order_by(Member.id)).all()
        day = (date.today() - timedelta(days=2)).isoformat()
        intake.receive(session, actor_for_client(client), [
            {"event_id": f"F{i}", "type": "disaster", "id_number": number, "event_date": day,
             "amounts": {"assessed_loss": "30000.00"}, "details": {"kind": "flood"}}
            for i, number in enumerate(numbers)])
        session.commit()
    wrong = fangpin(fresh_url, "evaluate", "--lane", "3/2")
    assert wrong.returncode == 1 and "--lane 3/2: K counts from 1 to N" in wrong.stderr
    both = fangpin(fresh_url, "evaluate", "--lane", "2/2", "--lanes", "3")
    assert both.returncode == 1 and "give one of them" in both.stderr
    assert "follow" not in both.stderr  # it was not asked to follow
    run = fangpin(fresh_url, "evaluate", "--lanes", "2")
    with Session(engine) as session:
        statuses = session.exec(select(TriggerEvent.status)).all()
    engine.dispose()
    if fresh_url.startswith("sqlite"):
        assert run.returncode == 1 and "lanes side by side need PostgreSQL" in run.stderr
        assert set(statuses) == {"received"}
        return
    assert run.returncode == 0, run.stderr
    assert f"evaluated {len(numbers)} events" in run.stdout
    assert "received" not in statuses and "accepted" in statuses


@pytest.mark.parametrize(("setting", "value", "words"), [
    ("FANGPIN_TIMEZONE", "Mars/Olympus", "no such time zone; give one like Asia/Shanghai"),
    ("FANGPIN_TIMEZONE", "../../etc/passwd", "no such time zone"),
    ("FANGPIN_PORT", "abc", "should be a valid integer"),
    ("FANGPIN_DATABASE_URL", "sqlite:///:memory:", "a database in memory"),
    ("FANGPIN_DATABASE_URL", "sqlite://", "a database in memory"),
    ("FANGPIN_DATABASE_URL", "mysql://fangpin@db/fangpin", "SQLite or PostgreSQL"),
    ("FANGPIN_DATABASE_URL", "postgresql+asyncpg://fangpin@db/fangpin", "psycopg"),
    ("FANGPIN_DATABASE_URL", "var/fangpin.db", "not a database URL"),
])
def test_a_bad_setting_is_refused_naming_it_and_why(tmp_path, setting, value, words):
    answer = fangpin(f"sqlite:///{tmp_path}/county.db", "fund", "show", "1",
                     env={setting: value})
    assert answer.returncode == 2, answer.stderr
    [line] = answer.stderr.splitlines()  # one line, no traceback
    assert line.startswith(f"error: {setting}={value!r}: ") and words in line, line


def test_a_database_at_a_revision_the_code_does_not_know_is_refused(fresh_url):
    import sqlalchemy as sa

    from claims.db import make_engine

    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    engine = make_engine(fresh_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff0000aaaa'"))
    engine.dispose()
    for args in (["db", "upgrade"], ["db", "downgrade", "-1"]):
        answer = fangpin(fresh_url, *args)
        assert answer.returncode == 2, answer.stderr
        [line] = answer.stderr.splitlines()
        assert line == NEWER, line
    current = fangpin(fresh_url, "db", "current")
    assert current.returncode == 0
    assert "schema revision: ffff0000aaaa (not known to this fangpin: a newer one migrated " \
        "it)" in current.stdout


HEAD = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
NEWER = (f"error: the database is at schema revision ffff0000aaaa, which this fangpin (at "
         f"{HEAD}) does not know: it was migrated by a newer fangpin; run that one, or restore "
         "the database from before")


def test_every_command_on_the_database_refuses_one_a_newer_fangpin_migrated(fresh_url,
                                                                             tmp_path):
    """Writing with this code to tables a newer fangpin reshaped could corrupt them: every
    command that opens the database refuses it before it reads or writes anything."""
    import sqlalchemy as sa

    from claims.db import make_engine

    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    engine = make_engine(fresh_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff0000aaaa'"))
    export = tmp_path / "export.csv"
    export.write_bytes(csv_bytes(["户编号", "行政村代码", "姓名", "证件号码", "与户主关系",
                                  "户类型"], [["NEW1", "411081100200", "张三",
                                              id_number(region="410102", seq=1), "户主",
                                              "脱贫户"]]))
    # a write, an import and the service stand for the rest
    for args in (["users", "bob", "--role", "clerk"], ["import", "households", str(export)],
                 ["serve"]):
        answer = fangpin(fresh_url, *args)
        assert answer.returncode == 2, (args, answer.stdout, answer.stderr)
        assert "Traceback" not in answer.stderr
        [line] = answer.stderr.splitlines()
        assert line == NEWER, (args, line)
    with engine.connect() as connection:  # nothing written
        assert connection.execute(sa.text("SELECT count(*) FROM app_user")).scalar() == 0
    engine.dispose()
    # commands that need no database do not look at it
    listed = fangpin(fresh_url, "model", "list", "--model-dir", str(tmp_path / "model"))
    assert listed.returncode == 0 and "no versions" in listed.stdout, listed.stderr
    upgraded = fangpin(fresh_url, "db", "upgrade")
    assert upgraded.returncode == 2 and upgraded.stderr.splitlines() == [NEWER]


def test_every_command_on_the_database_asks_an_older_one_to_be_upgraded(fresh_url):
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    behind = fangpin(fresh_url, "db", "downgrade", "-1")
    assert behind.returncode == 0, behind.stderr
    before = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(
        HEAD).down_revision
    assert f"schema revision: {before}" in behind.stdout
    for args in (["users", "bob", "--role", "clerk"], ["evaluate"]):
        answer = fangpin(fresh_url, *args)
        assert answer.returncode == 2, (args, answer.stdout, answer.stderr)
        assert "Traceback" not in answer.stderr
        [line] = answer.stderr.splitlines()
        assert line == (f"error: the database is at schema revision {before}, older than this "
                        f"fangpin's {HEAD}: run 'fangpin db upgrade' first"), (args, line)
    upgraded = fangpin(fresh_url, "db", "upgrade")
    assert upgraded.returncode == 0 and f"schema revision: {HEAD}" in upgraded.stdout
    added = fangpin(fresh_url, "users", "bob", "--role", "clerk")
    assert added.returncode == 0 and "user bob (clerk)" in added.stdout, added.stderr


def test_a_revision_the_code_does_not_know_is_refused(fresh_url):
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    answer = fangpin(fresh_url, "db", "downgrade", "nosuchrevision")
    assert answer.returncode == 2, answer.stderr
    [line] = answer.stderr.splitlines()
    assert line.startswith("error: the schema's migration: ") and "nosuchrevision" in line


def test_ctrl_c_stops_a_command_with_one_line_and_130(tmp_path):
    import signal

    url = f"sqlite:///{tmp_path}/county.db"
    assert fangpin(url, "db", "upgrade").returncode == 0
    command = subprocess.Popen(
        [sys.executable, "-m", "claims.cli", "demo", "--households", "1000000"],
        env={**os.environ, "FANGPIN_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"},
        stderr=subprocess.PIPE, text=True)
    assert command.stderr is not None
    said = ""
    while "households (" not in said:  # it is seeding
        said += command.stderr.read(1)
    command.send_signal(signal.SIGINT)
    said += command.stderr.read()
    assert command.wait(timeout=60) == 130, said[-3000:]
    assert "Traceback" not in said
    assert said.splitlines()[-1] == "interrupted (Ctrl-C)"


@pytest.mark.parametrize("args", [
    ["fund", "show", "1"], ["users", "bob", "--role", "clerk"], ["evaluate"], ["score"],
    ["monitor"], ["demo", "--households", "10"], ["db", "current"], ["db", "downgrade", "-1"],
    ["documents", "check"], ["serve"], ["scheduler"]])
def test_a_sqlite_file_that_is_not_there_is_refused_not_created(tmp_path, args):
    """A mistyped path would become a new, empty county; only the schema's migration creates
    a database."""
    typo = tmp_path / "typo.db"
    answer = fangpin(f"sqlite:///{typo}", *args)
    assert answer.returncode == 2, answer.stderr
    [line] = answer.stderr.splitlines()
    assert line == (f"error: FANGPIN_DATABASE_URL names the SQLite file {typo}, which does not "
                    "exist: check the path, or create the database there with 'fangpin db "
                    "upgrade'"), line
    assert not list(tmp_path.glob("typo.db*"))


def test_the_migration_creates_a_database_and_says_so(tmp_path):
    relative = "sqlite:///new/fangpin.db"  # as ./scripts/run's var/fangpin.db
    created = fangpin(relative, "db", "upgrade", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert f"created the database {tmp_path}/new/fangpin.db" in created.stdout
    again = fangpin(relative, "db", "upgrade", cwd=tmp_path)
    assert again.returncode == 0 and "created" not in again.stdout


def test_terms_load_holds_the_key_to_the_apis_rules(fresh_url, tmp_path):
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    terms = (TERMS_DIR / "yuzhou-demo-2026.toml").read_text(encoding="utf-8")
    for key in ("Yuzhou 2026", "<script>", "x" * 65):
        refused = fangpin(fresh_url, "terms", "load", str(TERMS_DIR / "yuzhou-demo-2026.toml"),
                          "--key", key)
        assert refused.returncode == 2, refused.stdout
        [line] = refused.stderr.splitlines()
        assert line.startswith(f"error: the terms' key {key!r} (--key, or the file's name): "
                               "String should"), line
    named = tmp_path / "禹州 2026.toml"  # the key defaults to the file's name
    named.write_text(terms, encoding="utf-8")
    refused = fangpin(fresh_url, "terms", "load", str(named))
    assert refused.returncode == 2 and "'禹州 2026'" in refused.stderr
    assert "match pattern '^[a-z0-9-]+$'" in refused.stderr
    loaded = fangpin(fresh_url, "terms", "load", str(named), "--key", "yuzhou-2026")
    assert loaded.returncode == 0 and "terms yuzhou-2026 version 1" in loaded.stdout
    saved_as_gbk = tmp_path / "gbk.toml"  # what a Chinese Windows editor may save
    saved_as_gbk.write_bytes(terms.encode("gbk"))
    refused = fangpin(fresh_url, "terms", "load", str(saved_as_gbk), "--key", "gbk")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == f"error: {saved_as_gbk}: save the file as UTF-8"


def test_a_refused_database_url_is_shown_without_its_password(tmp_path):
    answer = fangpin(f"sqlite:///{tmp_path}/county.db", "fund", "show", "1",
                     env={"FANGPIN_DATABASE_URL": "mysql://clerk:s3cretpw@db/fangpin"})
    assert answer.returncode == 2 and "s3cretpw" not in answer.stderr
    assert answer.stderr.startswith("error: FANGPIN_DATABASE_URL='mysql://clerk:***@db/fangpin': ")


def test_a_missing_database_or_role_is_not_told_to_upgrade():
    """The hint to run `fangpin db upgrade` was given for a database or a role that does not
    exist, which upgrading needs (an operator's)."""
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, postgres_unavailable

    reason = postgres_unavailable()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    server = make_url(POSTGRES_URL)
    for url in (server.set(database="no_such_database_here"),
                server.set(username="no_such_role_here")):
        url = url.render_as_string(hide_password=False)
        answer = fangpin(url, "db", "upgrade")
        assert answer.returncode == 2 and "does not exist" in answer.stderr, answer.stderr
        assert "check FANGPIN_DATABASE_URL" in answer.stderr
        assert "run 'fangpin db upgrade'" not in answer.stderr


def test_every_postgresql_url_the_settings_accept_opens_with_psycopg():
    from claims.db import normalise_url

    for url in ("postgresql://u@h/d", "postgres://u@h/d", "postgresql+psycopg://u@h/d",
                "postgres+psycopg://u@h/d"):
        assert normalise_url(url) == "postgresql+psycopg://u@h/d", url


def test_commands_that_score_nothing_start_without_the_analysis_libraries(tmp_path):
    """Migrating, checking the audit trail or any command's arguments waits for none of
    scikit-learn, scipy and pandas; seeding, loading terms or recording a change not for
    scikit-learn and scipy (before, their loading was three seconds of each start-up)."""
    heavy = "sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'pandas'})"
    loaded = subprocess.run([sys.executable, "-c", (
        "import sys, claims.cli, claims.anchors\n"
        "claims.cli.build_parser()\n"
        f"claims.cli.migrate.upgrade('sqlite:///{tmp_path}/fangpin.db')\n"
        f"print({heavy})\n"
        "import claims.seed, claims.changes\n"
        f"print({heavy})"
    )], capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[-2:] == ["[]", "['pandas']"]


def test_a_test_year_or_day_that_cannot_be_is_refused_in_one_line(tmp_path):
    """Found by a hostile tester: --test-year 0 (or 10000, or -5) was a traceback, and a test
    day to come was refused as "training data has no value at all in size, …"."""
    url = f"sqlite:///{tmp_path}/county.db"
    for year in ("0", "10000", "-5", "２０２５"):
        answer = fangpin(url, "train", "--test-year", year)
        assert answer.returncode == 2 and "Traceback" not in answer.stderr, answer.stderr
        assert "is not a year from 2000 to 2100" in answer.stderr, answer.stderr
    answer = fangpin(url, "train", "--test-day", "2099-01-01")
    assert answer.returncode == 2, answer.stderr
    assert answer.stderr.strip().startswith("error: the test day 2099-01-01 is after today")


def test_the_nights_drift_reasons_are_printed_in_words():
    """A data team's 10% rise of the line was in the run's drift report, but the command
    printed the shifted features only."""
    from claims.cli import _drift_reason
    assert _drift_reason({"code": "line_rise", "line": 9570.0, "reference_line": 8700.0,
                          "expected": 8700.0, "beyond_expected": 0.1}) == (
        "the line 9,570.00 is +10.0% from the 8,700.00 expected (line rise)")
    assert _drift_reason({"code": "income_shift", "psi": 0.31}) == (
        "incomes shifted (PSI 0.31)")


def test_a_database_with_no_schema_is_not_served_nor_evaluated(fresh_url):
    """An existing database never upgraded had been served, its evaluator logging two
    tracebacks every two seconds, and `fangpin evaluate` began with a 68-line traceback (an
    operator's): both say to upgrade first."""
    if fresh_url.startswith("sqlite"):
        import sqlite3

        sqlite3.connect(fresh_url.removeprefix("sqlite:///")).close()  # the file, empty
    for args in (["evaluate"], ["serve", "--port", "1"], ["scheduler"]):
        answer = fangpin(fresh_url, *args, timeout=60)
        assert answer.returncode == 2, (args, answer.stderr)
        assert answer.stderr.strip() == ("error: the database has no schema yet: run "
                                         "'fangpin db upgrade' first"), args


def test_a_misspelt_variable_is_named_not_ignored_in_silence(tmp_path):
    """FANGPIN_ENVIROMENT=production had run in development with the placeholder audit key,
    FANGPIN_SCHEDULR with no nightly jobs, and nothing said so (an operator's)."""
    from claims.settings import unknown_variables

    assert unknown_variables({"FANGPIN_ENVIROMENT": "production", "FANGPIN_TIMEZONE": "x",
                              "FANGPIN_TEST_CLI": "1", "FANGPIN_IMPORT_MAX_ROWS": "5",
                              "HOME": "/root"}) == ["FANGPIN_ENVIROMENT"]
    answer = fangpin(f"sqlite:///{tmp_path}/f.db", "db", "upgrade",
                     env={"FANGPIN_SCHEDULR": "in_process"})
    assert answer.returncode == 0
    assert "FANGPIN_SCHEDULR names no setting of fangpin's: it is ignored" in answer.stderr


def test_a_folder_for_a_file_and_a_missing_terminal_are_errors_not_tracebacks(fresh_url,
                                                                                tmp_path):
    """`terms validate <folder>` and `fangpin password NAME` in a script printed tracebacks
    (IsADirectoryError, EOFError: an operator's)."""
    folder = fangpin(fresh_url, "terms", "validate", str(tmp_path))
    assert folder.returncode == 2 and "Traceback" not in folder.stderr
    assert folder.stderr.strip() == f"error: {tmp_path}: Is a directory"
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    assert fangpin(fresh_url, "users", "lin", "--role", "clerk").returncode == 0
    asked = fangpin(fresh_url, "password", "lin", input="")
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert "give --stdin" in asked.stderr


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("FANGPIN_SERVICE_LEVEL_DAYS", "notjson", "FANGPIN_SERVICE_LEVEL_DAYS: not valid JSON"),
    ("FANGPIN_IMPORT_MAX_BYTES", "abc", "FANGPIN_IMPORT_MAX_BYTES='abc': "),
    ("FANGPIN_IMPORT_MAX_ROWS", "0", "FANGPIN_IMPORT_MAX_ROWS='0': "),
])
def test_a_bad_setting_of_any_kind_is_one_line_at_the_start(tmp_path, variable, value, words):
    """These had been tracebacks, the import limits' only when a file was read (an
    operator's)."""
    answer = fangpin(f"sqlite:///{tmp_path}/f.db", "db", "current", env={variable: value})
    assert answer.returncode == 2 and "Traceback" not in answer.stderr
    [line] = answer.stderr.splitlines()
    assert line.startswith(f"error: {words}"), line
