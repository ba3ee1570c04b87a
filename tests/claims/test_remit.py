"""A department key sends only the event types of its remit: the medical-insurance key may not
send a disability event, set per key by an administrator (API or command line)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from claims import remit
from claims.auth import SYSTEM, Actor
from claims.models import ApiClient, AuditEntry, Organisation, TriggerEvent
from claims.people import create_client
from policies.benefits import EventIn
from policies.terms import BUILTIN_EVENT_TYPES
from tests import cli
from tests.claims.test_cli import fresh_url  # noqa: F401  (the fixture)
from tests.claims.test_intake import EVENT_DATE, illness
from tests.factories import id_number

MEDICAL_KEY = "fpk_test-remit-medical"


def disability(event_id="CDPF-1", seq=1) -> dict:
    return {"event_id": event_id, "type": "disability", "event_date": EVENT_DATE.isoformat(),
            "id_number": id_number(seq=seq), "details": {"grade": "3",
                                                         "certificate_number": "C-001"}}


@pytest.fixture
def medical(app, session, county):
    client, _ = create_client(session, SYSTEM, "禹州市医疗保障局", "medical_insurance",
                              key=MEDICAL_KEY)
    session.commit()
    with TestClient(app, headers={"Authorization": f"Bearer {MEDICAL_KEY}"}) as http:
        http.client_id = client.id
        yield http


def test_each_loss_has_one_reporting_department_and_the_office_hears_all():
    """The default remits, checked as properties: every built-in type is some department's,
    no two departments other than the poverty office share one (else one loss could arrive
    as two reports), and the poverty office may send everything."""
    assert set(DEFAULT := remit.DEFAULT_REMIT) == {o.value for o in Organisation}
    owners: dict[str, list[str]] = {}
    for organisation, types in DEFAULT.items():
        if types is not None:
            for kind in types:
                owners.setdefault(kind, []).append(organisation)
    assert set(owners) == set(BUILTIN_EVENT_TYPES)
    assert {k: v for k, v in owners.items() if len(v) > 1} == {}
    event = EventIn.model_validate(illness())
    for organisation in DEFAULT:
        for kind in BUILTIN_EVENT_TYPES:
            actor = Actor("client", 1, organisation, organisation=organisation)
            sent = event.model_copy(update={"type": kind})
            allowed = organisation == "poverty_office" or owners[kind] == [organisation]
            if allowed:
                remit.check(actor, sent)
            else:
                with pytest.raises(remit.OutsideRemit):
                    remit.check(actor, sent)
    remit.check(Actor("user", 1, "clerk", role="clerk"), event)  # staff are not limited


def test_an_event_outside_the_keys_remit_is_refused_with_the_type_and_the_remit(
        medical, session):
    refused = medical.post("/api/events", json=disability())
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert body["field"] == "type" and body["value"] == "disability"
    assert "may not send 'disability' events: its remit is illness" in body["message"]
    assert medical.post("/api/events", json=illness()).status_code == 202

    batch = medical.post("/api/events/batch", json=[illness("HIS-2"), disability("CDPF-2")])
    results = {r["source_event_id"]: r for r in batch.json()["results"]}
    assert results["HIS-2"]["result"] == "accepted"
    assert results["CDPF-2"]["result"] == "rejected"
    assert "its remit is illness" in results["CDPF-2"]["reason"]

    file = "事件编号,事件类型,发生日期,证件号码,残疾等级\n" \
           f"CDPF-3,因残,{EVENT_DATE},{id_number(seq=1)},3\n"
    sent = medical.post("/api/events/file", files={"file": ("cdpf.csv", file.encode())})
    assert sent.json()["counts"] == {"rejected": 1}
    stored = session.exec(select(TriggerEvent.source_event_id).where(
        TriggerEvent.client_id == medical.client_id)).all()
    assert sorted(stored) == ["HIS-1", "HIS-2"]


def test_an_administrator_sets_a_keys_remit_and_it_is_audited(client, medical, session):
    path = f"/api/admin/api-clients/{medical.client_id}/event-types"
    unknown = client.put(path, json={"event_types": ["illness", "flood"]})
    assert unknown.status_code == 422 and "flood" in unknown.json()["message"]
    widened = client.put(path, json={"event_types": ["illness", "disability"]})
    assert widened.status_code == 200, widened.text
    assert widened.json()["event_types"] == ["disability", "illness"]
    assert widened.json()["remit"] == "own"
    assert medical.post("/api/events", json=disability()).status_code == 202

    back = client.put(path, json={"event_types": None})
    assert back.json() == {**back.json(), "event_types": ["illness"], "remit": "department"}
    assert medical.post("/api/events", json=disability("CDPF-9")).status_code == 403
    changes = session.exec(select(AuditEntry).where(AuditEntry.action == "set_remit")).all()
    assert [c.after["event_types"] for c in changes] == [["disability", "illness"], None]

    made = client.post("/api/admin/api-clients", json={
        "name": "禹州市民政局", "organisation": "civil_affairs", "event_types": ["housing"]})
    assert made.status_code == 201 and made.json()["event_types"] == ["housing"]
    listed = {c["name"]: c for c in client.get("/api/admin/api-clients").json()["data"]}
    assert listed["禹州市医疗保障局"]["event_types"] == ["illness"]
    assert session.get(ApiClient, medical.client_id).event_types is None


def test_the_remit_is_set_from_the_command_line(fresh_url):  # noqa: F811
    def fangpin(*args):
        return cli.fangpin(fresh_url, *args)

    assert fangpin("db", "upgrade").returncode == 0
    added = fangpin("departments", "医保", "--organisation", "medical_insurance")
    assert added.returncode == 0 and "医保 may send: illness (its department default)" \
        in added.stdout
    widened = fangpin("departments", "医保", "--event-types", "illness,disability")
    assert widened.returncode == 0, widened.stderr
    assert "may send: disability, illness (its own list)" in widened.stdout
    wrong = fangpin("departments", "医保", "--event-types", "illness,flood")
    assert wrong.returncode != 0 and "flood" in wrong.stdout + wrong.stderr
