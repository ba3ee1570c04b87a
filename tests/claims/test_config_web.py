"""The office's configuration pages: a terms file uploaded (stored, or each mistake named by
its key), two versions compared key by key, a version put in force, a contract recorded, a
monitoring line added, each on the audit trail through the API's services; a user limited to
some townships, or of another role, is refused. On both databases."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from claims.models import AuditEntry, MonitoringLine, PolicyContract, TermsVersion
from claims.web.config import terms_diff
from tests.claims.conftest import START, TERMS
from tests.claims.test_web import browser, csrf_of  # noqa: F401  (the fixture)

GOOD = TERMS.replace("2026", str(START.year)).replace(
    'deductible = { amount = "20000.00"', 'deductible = { amount = "15000.00"')
# two mistakes: a misspelt top-level key and a year that is not a number
BAD = TERMS.replace("[policy]", 'colour = "red"\n\n[policy]', 1).replace(
    "policy_year = 2026", 'policy_year = "twenty"')


def upload(user, page: str, key: str, text: str):
    return user.post("/config/terms", data={"csrf_token": csrf_of(page), "key": key},
                     files={"file": (f"{key}.toml", text.encode())}, follow_redirects=False)


def trail(session, entity: str) -> list[tuple[str, str]]:
    return [(e.entity_id, e.action) for e in session.exec(
        select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id))]


def test_an_administrator_uploads_terms_compares_them_and_puts_them_in_force(
        county, session, browser):  # noqa: F811
    admin = browser("admin")
    page = admin.get("/config/terms").text
    assert "<code>demo</code>" in page and "FPB-TEST" in page  # version 1, in force

    refused = upload(admin, page, "demo", BAD)
    assert refused.status_code == 422
    problems = re.findall(r"<li><code>([^<]+)</code>：([^<]+)</li>", refused.text)
    assert dict(problems) == {"colour": "未知的键（是否拼错？）",
                              "policy.policy_year": "不是整数"}
    assert len(session.exec(select(TermsVersion)).all()) == 1

    stored = upload(admin, page, "demo", GOOD)
    assert stored.status_code == 303
    page = admin.get(stored.headers["location"]).text
    assert "已保存为第 2 版" in page
    first, second = session.exec(select(TermsVersion).order_by(TermsVersion.version)).all()
    assert ("demo/2", "create") in trail(session, "terms_version")
    again = upload(admin, page, "demo", GOOD)  # the same text: the version already stored
    assert "已保存为第 2 版" in admin.get(again.headers["location"]).text
    assert len(session.exec(select(TermsVersion)).all()) == 2

    diff = admin.get(f"/config/terms/diff?a={first.id}&b={second.id}").text
    rows = re.findall(r"<tr class=\"diff-(\w+)\"><td[^>]*><code>([^<]+)</code></td>\s*"
                      r"<td[^>]*>[^<]*</td>\s*<td[^>]*>(?:<code>([^<]*)</code>)?</td>\s*"
                      r"<td[^>]*>(?:<code>([^<]*)</code>)?</td>", diff)
    assert ("changed", "triggers.illness.deductible.amount", "&#34;20000.00&#34;",
            "&#34;15000.00&#34;") in rows
    assert len(rows) == 1  # nothing else changed
    assert "两个版本内容相同" in admin.get(
        f"/config/terms/diff?a={second.id}&b={second.id}").text

    put = admin.post(f"/config/terms/{second.id}/in-force", data={
        "csrf_token": csrf_of(page), "contract_id": str(county.contract.id)},
        follow_redirects=False)
    assert put.status_code == 303
    session.refresh(county.contract)
    assert county.contract.terms_version_id == second.id
    assert ("FPB-TEST", "attach_terms") in trail(session, "policy_contract")


def test_a_clerk_records_a_contract_and_a_line_and_sees_each_mistake_by_field(
        county, session, browser):  # noqa: F811
    clerk = browser("clerk", language="en")
    page = clerk.get("/config/contracts").text
    assert "Upload a terms file" not in clerk.get("/config/terms").text  # administrators'
    year = START.year + 1
    fields = {"contract_number": f"FPB-NEXT-{year}", "county_id": str(county.ids["county"]),
              "insurer": "演示保险", "policy_year": str(year), "start_date": f"{year}-01-01",
              "end_date": f"{year}-12-31", "premium_per_person": "60.00",
              "insured_basis": "headcount", "insured_headcount": "50000",
              "insurer_fee_rate": "0.12", "balance_carried_in": "0", "status": "draft"}
    wrong = clerk.post("/config/contracts", data={
        "csrf_token": csrf_of(page), **fields, "premium_per_person": "sixty"},
        follow_redirects=False)
    assert wrong.status_code == 422  # the service's own words, under the field's label
    assert "<strong>Premium per person (yuan)</strong>: &#39;sixty&#39; is not a decimal" in \
        wrong.text
    wrong = clerk.post("/config/contracts", data={
        "csrf_token": csrf_of(page), **fields, "insured_headcount": ""}, follow_redirects=False)
    assert wrong.status_code == 422
    assert "<strong>Insured headcount</strong>: insured_headcount is required" in wrong.text
    assert 'value="FPB-NEXT-' in wrong.text  # the form keeps what was typed
    made = clerk.post("/config/contracts", data={"csrf_token": csrf_of(page), **fields},
                      follow_redirects=False)
    assert made.status_code == 303
    listed = clerk.get(made.headers["location"]).text
    assert f"FPB-NEXT-{year}" in listed and "50,000" in listed and "12.00%" in listed
    assert session.exec(select(PolicyContract).where(
        PolicyContract.contract_number == f"FPB-NEXT-{year}")).one().premium_per_person == 60
    assert (f"FPB-NEXT-{year}", "create") in trail(session, "policy_contract")
    again = clerk.post("/config/contracts", data={"csrf_token": csrf_of(page), **fields},
                       follow_redirects=False)
    assert again.status_code == 422 and "already recorded" in again.text

    page = clerk.get("/config/lines").text
    line = {"region_id": str(county.ids["village0"]), "year": str(year),
            "fixed_amount": "9100", "note": "县文件"}
    both = clerk.post("/config/lines", data={"csrf_token": csrf_of(page), **line,
                                             "multiple": "1.5"}, follow_redirects=False)
    assert both.status_code == 422 and "exactly one way" in both.text
    added = clerk.post("/config/lines", data={"csrf_token": csrf_of(page), **line},
                       follow_redirects=False)
    assert added.status_code == 303
    shown = clerk.get(added.headers["location"]).text
    assert "9,100.00" in shown and "县文件" in shown
    (new,) = session.exec(select(MonitoringLine).where(MonitoringLine.year == year)).all()
    assert (str(new.id), "create") in trail(session, "monitoring_line")


def test_the_configuration_is_refused_to_a_township_limited_user_and_other_roles(
        county, session, browser):  # noqa: F811
    limited = browser("clerk", townships=[county.ids["township"]])
    for path in ("/config/terms", "/config/contracts", "/config/lines", "/config/terms/diff"):
        assert limited.get(path).status_code == 403
    token = csrf_of(limited.get("/households").text)
    refused = limited.post("/config/lines", data={
        "csrf_token": token, "region_id": str(county.ids["village0"]), "year": "2030",
        "fixed_amount": "1"}, follow_redirects=False)
    assert refused.status_code == 403 and "不能办理全县" not in refused.text
    assert session.exec(select(MonitoringLine).where(MonitoringLine.year == 2030)).first() \
        is None
    assert browser("investigator").get("/config/terms").status_code == 403
    clerk = browser("clerk")
    assert 'href="/config/terms"' in clerk.get("/work").text
    assert 'href="/config/terms"' not in browser("auditor").get("/work").text
    page = clerk.get("/config/terms").text
    assert upload(clerk, page, "demo", GOOD).status_code == 403  # terms: administrators'


# --- an outside check: the difference of generated files, against the files' own changes ------

NAMES = st.sampled_from(["alpha", "beta", "gamma", "delta"])
VALUES = st.one_of(st.integers(-5, 5), st.sampled_from(["x", "y", "0.30", "中文"]))
TABLES = st.dictionaries(NAMES, st.dictionaries(NAMES, VALUES, max_size=4), max_size=4)


def toml(tables: dict) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{key} = {json.dumps(value, ensure_ascii=False)}\n"
                                           for key, value in keys.items())
                   for name, keys in tables.items())


@settings(max_examples=200, deadline=None)
@given(TABLES, TABLES)
def test_the_difference_names_exactly_the_keys_added_removed_and_changed(before, after):
    old = {f"{t}.{k}": v for t, keys in before.items() for k, v in keys.items()}
    new = {f"{t}.{k}": v for t, keys in after.items() for k, v in keys.items()}
    expected = sorted(
        [(k, "added") for k in new.keys() - old.keys()]
        + [(k, "removed") for k in old.keys() - new.keys()]
        + [(k, "changed") for k in old.keys() & new.keys() if old[k] != new[k]])
    rows = terms_diff(TermsVersion(source_text=toml(before)),
                      TermsVersion(source_text=toml(after)))
    assert sorted((key, kind) for key, kind, _, _ in rows) == expected
    for key, _kind, was, now in rows:
        assert (json.loads(was) if was else None) == old.get(key)
        assert (json.loads(now) if now else None) == new.get(key)
