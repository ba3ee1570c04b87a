"""The audit chain cannot be cut quietly: its head, signed with a key kept outside the
database, finds what the hash chain alone cannot — the newest entries removed, or a row altered
and every hash after it recomputed."""

from __future__ import annotations

import json
import logging
import random

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from claims import anchors, audit
from claims.auth import SYSTEM
from claims.models import AuditEntry
from claims.settings import Settings
from tests.claims.test_cli import fresh_url  # noqa: F401  (the fixture)
from tests.cli import fangpin

ENTRIES = 30


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(audit_key="k" * 40, audit_anchor_file=str(tmp_path / "anchors.jsonl"))


@pytest.fixture
def chain(session) -> Session:
    for number in range(ENTRIES):
        audit.record(session, SYSTEM, "household", number, "update",
                     before={"bank_account": "6228…0001"}, after={"bank_account": "6228…0002"})
    session.commit()
    return session


def delete_newest(session, count: int) -> None:
    session.execute(sa.delete(AuditEntry).where(AuditEntry.id > ENTRIES - count))


def edit(session, entry_id: int) -> None:
    session.execute(sa.update(AuditEntry).where(AuditEntry.id == entry_id).values(
        after={"bank_account": "6228…9999"}))


def edit_and_recompute(session, entry_id: int) -> None:
    """What someone who can write the table does: alter a row, then make the chain agree."""
    edit(session, entry_id)
    session.expire_all()
    previous = session.get(AuditEntry, entry_id - 1).hash if entry_id > 1 else audit.GENESIS
    for entry in session.exec(select(AuditEntry).where(AuditEntry.id >= entry_id)
                              .order_by(AuditEntry.id)):
        entry.prev_hash = previous
        entry.hash = previous = audit.entry_hash(entry)
    session.flush()


def delete_one(session, entry_id: int) -> None:
    session.execute(sa.delete(AuditEntry).where(AuditEntry.id == entry_id))


TAMPERING = {
    "delete the newest entry": lambda s: delete_newest(s, 1),
    "delete the newest 20": lambda s: delete_newest(s, 20),
    "edit a row and recompute the chain after it": lambda s: edit_and_recompute(s, 10),
    "edit a row without recomputing": lambda s: edit(s, 10),
    "delete an entry in the middle": lambda s: delete_one(s, 10),
}
# the entry each is reported at: the first one missing or altered, or the signed one that no
# longer carries its signed hash
FIRST_BAD = {"delete the newest entry": 30, "delete the newest 20": 11,
             "edit a row and recompute the chain after it": 30,
             "edit a row without recomputing": 10, "delete an entry in the middle": 10}


def tampered(session, tamper, settings, head=True) -> audit.Verification:
    """Verify the chain with one tampering applied, then undo it."""
    nested = session.begin_nested()
    tamper(session)
    session.flush()
    result = anchors.verify(session, settings) if head else audit.verify(session)
    nested.rollback()
    session.expire_all()
    return result


@pytest.mark.parametrize("case", list(TAMPERING))
def test_every_tampering_is_detected_against_the_signed_head(chain, settings, case):
    anchors.anchor(chain, settings)
    assert anchors.verify(chain, settings).problem == ""
    result = tampered(chain, TAMPERING[case], settings)
    assert result.problem, case
    assert result.signed_count == ENTRIES
    assert result.first_bad == FIRST_BAD[case]


def test_without_a_signed_head_cutting_the_newest_entries_passes(chain, settings):
    """Why the head is needed: the chain alone accepts the three silent cuts."""
    for case in ("delete the newest entry", "delete the newest 20",
                 "edit a row and recompute the chain after it"):
        assert tampered(chain, TAMPERING[case], settings, head=False).problem == "", case


def test_removed_newest_entries_are_named(chain, settings):
    anchors.anchor(chain, settings)
    result = tampered(chain, TAMPERING["delete the newest 20"], settings)
    assert result.problem == (
        f"the chain ends at entry 10, but 30 entries were signed at "
        f"{anchors.newest_in(settings.audit_anchor_file, b'k' * 40).at}: entries 11–30 were "
        "removed")


def test_entries_after_the_head_are_welcome_and_the_next_head_covers_them(chain, settings):
    anchors.anchor(chain, settings)
    audit.record(chain, SYSTEM, "household", 99, "update", after={"phone": "138…"})
    chain.commit()
    assert anchors.verify(chain, settings).problem == ""
    assert anchors.anchor(chain, settings).count == ENTRIES + 1
    result = tampered(chain, lambda s: s.execute(sa.delete(AuditEntry).where(
        AuditEntry.id == ENTRIES + 1)), settings)
    assert "entries 31–31 were removed" in result.problem


def test_a_forged_head_or_another_key_is_refused(chain, settings, tmp_path):
    anchors.anchor(chain, settings)
    other = Settings(audit_key="x" * 40, audit_anchor_file=settings.audit_anchor_file)
    assert "wrong signature" in anchors.verify(chain, other).problem
    forged = tmp_path / "forged.jsonl"
    head = anchors.head_of(chain)
    forged.write_text(json.dumps({"audit_head": {**head.__dict__, "count": 5},
                                  "signature": "0" * 64}) + "\n")
    assert "wrong signature" in anchors.verify(chain, settings, str(forged)).problem


def test_a_broken_chain_is_not_signed(chain, settings):
    edit(chain, 3)
    chain.commit()
    with pytest.raises(anchors.ChainBroken, match="entry 3 was altered"):
        anchors.anchor(chain, settings)


def test_heads_written_to_the_log_only_are_read_back_from_it(chain, tmp_path, caplog):
    """The operator's other choice: no anchor file; the heads are found in the log, written
    as text or as JSON (the message holds the head)."""
    settings = Settings(audit_key="k" * 40, audit_anchor_file="")
    with caplog.at_level(logging.INFO, logger="claims.audit.anchor"):
        anchors.anchor(chain, settings)
    (message,) = [r.getMessage() for r in caplog.records if r.name == "claims.audit.anchor"]
    for name, line in (("text.log", f"2026-12-02 02:40:01 INFO    claims.audit.anchor: "
                                    f"{message}"),
                       ("json.log", json.dumps({"time": "2026-12-02", "level": "INFO",
                                                "message": message}))):
        log_file = tmp_path / name
        log_file.write_text("an unrelated line\n" + line + "\n")
        result = tampered(chain, TAMPERING["delete the newest entry"],
                          Settings(audit_key="k" * 40, audit_anchor_file=str(log_file)))
        assert "were removed" in result.problem, name


def test_random_tampering_after_an_anchor_is_always_detected(chain, settings):
    """Generated cases: any entry up to the head altered (with or without recomputing), any
    removed, any number of the newest removed. Size: FANGPIN_TEST_TAMPERING cases (20)."""
    import os

    anchors.anchor(chain, settings)
    rng = random.Random(14)
    for _ in range(int(os.environ.get("FANGPIN_TEST_TAMPERING", "20"))):
        kind, target = rng.randrange(4), rng.randint(1, ENTRIES)
        tamper = [lambda s, t=target: edit(s, t),
                  lambda s, t=target: edit_and_recompute(s, t),
                  lambda s, t=target: delete_one(s, t),
                  lambda s, t=target: delete_newest(s, t)][kind]
        assert tampered(chain, tamper, settings).problem, (kind, target)


def test_the_nightly_jobs_end_by_signing_the_head(own_engine, tmp_path, monkeypatch):
    from claims import scheduler

    with Session(own_engine) as session:
        audit.record(session, SYSTEM, "user", "clerk", "create")
        session.commit()
    settings = Settings(audit_key="k" * 40, audit_anchor_file=str(tmp_path / "a.jsonl"))
    monkeypatch.setattr(scheduler, "get_engine", lambda: own_engine)
    monkeypatch.setattr(scheduler, "get_settings", lambda: settings)
    scheduler.anchor_audit()
    assert anchors.newest_in(settings.audit_anchor_file, b"k" * 40).count == 1


def test_anchor_and_verify_from_the_command_line(tmp_path, fresh_url):  # noqa: F811
    env = {"FANGPIN_AUDIT_KEY": "k" * 40,
           "FANGPIN_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors.jsonl")}
    assert fangpin(fresh_url, "db", "upgrade", env=env).returncode == 0
    for name in ("clerk1", "clerk2"):
        made = fangpin(fresh_url, "users", name, "--role", "clerk", env=env)
        assert made.returncode == 0, made.stderr
    signed = fangpin(fresh_url, "audit", "anchor", env=env)
    assert signed.returncode == 0 and "audit head signed: 2 entries" in signed.stdout
    assert "intact: 2 entries, up to the head" in fangpin(
        fresh_url, "audit", "verify", env=env).stdout
    engine = sa.create_engine(fresh_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_entry WHERE id = 2"))
    engine.dispose()
    cut = fangpin(fresh_url, "audit", "verify", env=env)
    assert cut.returncode == 1 and "entries 2–2 were removed" in cut.stdout
    # the chain alone, without the anchors, would have passed
    (tmp_path / "none").write_text("")  # a file of no anchors (a missing one is refused)
    alone = fangpin(fresh_url, "audit", "verify", "--anchors", str(tmp_path / "none"), env=env)
    assert alone.returncode == 0 and "no signed head found" in alone.stdout
