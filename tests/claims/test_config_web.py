"""The office's configuration pages: a terms file uploaded (stored, or each mistake named by
its key), two versions compared key by key, a version put in force, a contract recorded, a
monitoring line added, a contract and a line changed and a contract moved from draft to active to
closed, each on the audit trail through the API's services, each mistake by its field in the
user's language; a user limited to some townships, or of another role, is refused. On both
databases."""

from __future__ import annotations

import json
import re
from decimal import Decimal

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
              "insured_basis": "headcount", "insured_headcount": "50,000",  # as shown
              "insurer_fee_rate": "0.12", "balance_carried_in": "0", "status": "draft"}
    wrong = clerk.post("/config/contracts", data={
        "csrf_token": csrf_of(page), **fields, "premium_per_person": "sixty"},
        follow_redirects=False)
    assert wrong.status_code == 422  # the mistake under the field's label
    assert "<strong>Premium per person (yuan)</strong>: not a number" in wrong.text
    wrong = clerk.post("/config/contracts", data={
        "csrf_token": csrf_of(page), **fields, "insured_headcount": ""}, follow_redirects=False)
    assert wrong.status_code == 422
    assert "<strong>Insured headcount</strong>: required when the basis is a headcount" in \
        wrong.text
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
    assert both.status_code == 422 and "one way only" in both.text
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


def problems_of(page: str) -> dict[str, str]:
    return dict(re.findall(r"<li><strong>([^<]+)</strong>：([^<]+)</li>", page))


def entries(session, entity: str, entity_id: str, action: str) -> list[AuditEntry]:
    return session.exec(select(AuditEntry).where(
        AuditEntry.entity == entity, AuditEntry.entity_id == entity_id,
        AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_a_clerk_changes_a_contract_and_moves_contracts_on_in_chinese(
        county, session, browser):  # noqa: F811
    clerk = browser("clerk")
    contract = county.contract  # active, from START for a year
    listed = clerk.get("/config/contracts").text
    assert f'href="/config/contracts/{contract.id}"' in listed
    page = clerk.get(f"/config/contracts/{contract.id}").text
    assert "结算合同" in page and "使合同生效" not in page  # active: only closing is next
    token = csrf_of(page)
    fields = {"insurer": "演示保险", "start_date": str(contract.start_date),
              "end_date": str(contract.end_date), "premium_per_person": "sixty",
              "insured_basis": "headcount", "insured_headcount": "",
              "insurer_fee_rate": "0.15", "balance_carried_in": "0"}
    wrong = clerk.post(f"/config/contracts/{contract.id}", data={"csrf_token": token, **fields},
                       follow_redirects=False)
    assert wrong.status_code == 422
    assert problems_of(wrong.text) == {"人均保费（元）": "不是数字"}
    assert 'value="sixty"' in wrong.text  # the form keeps what was typed
    fields["premium_per_person"] = "65.50"
    wrong = clerk.post(f"/config/contracts/{contract.id}", data={"csrf_token": token, **fields},
                       follow_redirects=False)  # no headcount on a headcount basis
    assert problems_of(wrong.text) == {"参保人数": "按人数参保时必填"}
    backwards = {**fields, "insured_headcount": "52000",
                 "end_date": str(contract.start_date)}
    wrong = clerk.post(f"/config/contracts/{contract.id}",
                       data={"csrf_token": token, **backwards}, follow_redirects=False)
    assert problems_of(wrong.text) == {"终止日期": f"须晚于起始日期（{contract.start_date}）"}
    session.refresh(contract)
    assert contract.premium_per_person != Decimal("65.50")  # nothing of it was saved

    saved = clerk.post(f"/config/contracts/{contract.id}", data={
        "csrf_token": token, **fields, "insured_headcount": "52000"}, follow_redirects=False)
    assert saved.status_code == 303
    assert "合同 FPB-TEST 已保存" in clerk.get(saved.headers["location"]).text
    session.refresh(contract)
    assert (contract.premium_per_person, contract.insured_headcount) == (Decimal("65.50"),
                                                                        52000)
    (change,) = entries(session, "policy_contract", "FPB-TEST", "update")
    assert change.actor == f"user:{clerk.user.username}"
    assert change.after == {"premium_per_person": "65.50", "insured_headcount": 52000}
    assert set(change.before) == {"premium_per_person", "insured_headcount"}

    # a draft for the same days cannot become active beside it; closed, the old one cannot
    year = contract.policy_year
    made = clerk.post("/config/contracts", data={
        "csrf_token": token, "contract_number": "FPB-DRAFT", "county_id": str(contract.county_id),
        "insurer": "演示保险", "policy_year": str(year), "start_date": str(contract.start_date),
        "end_date": str(contract.end_date), "premium_per_person": "60",
        "insured_basis": "headcount", "insured_headcount": "50000", "status": "draft"},
        follow_redirects=False)
    assert made.status_code == 303
    draft = session.exec(select(PolicyContract).where(
        PolicyContract.contract_number == "FPB-DRAFT")).one()
    assert "使合同生效" in clerk.get(f"/config/contracts/{draft.id}").text
    overlap = clerk.post(f"/config/contracts/{draft.id}", data={
        "csrf_token": token, "status": "active"}, follow_redirects=False)
    assert overlap.status_code == 422
    assert problems_of(overlap.text) == {
        "状态": "本县在这些日期内已有生效合同 FPB-TEST：请先结算该合同，或修改日期"}
    closed = clerk.post(f"/config/contracts/{contract.id}", data={
        "csrf_token": token, "status": "closed"}, follow_redirects=False)
    assert closed.status_code == 303
    page = clerk.get(f"/config/contracts/{contract.id}").text
    assert "已结算" in page and "结算合同" not in page and "使合同生效" not in page
    again = clerk.post(f"/config/contracts/{contract.id}", data={
        "csrf_token": token, "status": "active"}, follow_redirects=False)
    assert problems_of(again.text) == {
        "状态": "状态为“已结算”的合同不能改为“生效”（合同依次为草稿、生效、已结算）"}
    assert clerk.post(f"/config/contracts/{draft.id}", data={
        "csrf_token": token, "status": "active"}, follow_redirects=False).status_code == 303
    session.refresh(draft)
    session.refresh(contract)
    assert (contract.status, draft.status) == ("closed", "active")
    (closing,) = entries(session, "policy_contract", "FPB-TEST", "update")[1:]
    assert (closing.before, closing.after) == ({"status": "active"}, {"status": "closed"})


def test_a_clerk_changes_how_a_line_is_set_in_chinese(county, session, browser):  # noqa: F811
    clerk = browser("clerk")
    line = session.exec(select(MonitoringLine)).one()  # the county's: a fixed 8,700
    listed = clerk.get("/config/lines").text
    assert f'href="/config/lines/{line.id}"' in listed
    page = clerk.get(f"/config/lines/{line.id}").text
    assert 'name="fixed_amount" inputmode="decimal" value="8700.00"' in page
    token = csrf_of(page)
    both = clerk.post(f"/config/lines/{line.id}", data={
        "csrf_token": token, "fixed_amount": "8700.00", "multiple": "1.5", "standard_year": "",
        "note": ""}, follow_redirects=False)
    assert both.status_code == 422
    assert problems_of(both.text) == {
        "固定金额（元/人·年）": "固定金额与“国家标准倍数及其年度”只能填写其一"}
    unknown = clerk.post(f"/config/lines/{line.id}", data={
        "csrf_token": token, "fixed_amount": "", "multiple": "1.5", "standard_year": "1999",
        "note": ""}, follow_redirects=False)
    assert problems_of(unknown.text) == {"国家标准年度": "尚未登记 1999 年的国家标准：请先登记"}
    # typed as the page shows numbers, full-width too; a note of figures is kept as typed (a
    # re-tester's 1,000 had become 1000)
    saved = clerk.post(f"/config/lines/{line.id}", data={
        "csrf_token": token, "fixed_amount": "９,３００", "multiple": "", "standard_year": "",
        "note": "县文件 1,000 号"}, follow_redirects=False)
    assert saved.status_code == 303
    assert "监测线已保存" in clerk.get(saved.headers["location"]).text
    session.refresh(line)
    assert (line.fixed_amount, line.note) == (Decimal("9300"), "县文件 1,000 号")
    (change,) = entries(session, "monitoring_line", str(line.id), "update")
    assert change.after == {"fixed_amount": "9300.00", "note": "县文件 1,000 号"}

    for refused in (browser("investigator"), browser("clerk", townships=[
            county.ids["township"]])):
        assert refused.get(f"/config/lines/{line.id}").status_code == 403
        answer = refused.post(f"/config/lines/{line.id}", data={
            "csrf_token": csrf_of(refused.get("/work").text), "fixed_amount": "1"},
            follow_redirects=False)
        assert answer.status_code == 403
        assert refused.post(f"/config/contracts/{county.contract.id}", data={
            "csrf_token": csrf_of(refused.get("/work").text), "status": "closed"},
            follow_redirects=False).status_code == 403
    session.refresh(line)
    session.refresh(county.contract)
    assert line.fixed_amount == Decimal("9300") and county.contract.status == "active"


def test_an_implausible_line_is_refused_on_the_form(county, session, browser):  # noqa: F811
    """The form goes through the API's service: a line outside the plausible range (policies.
    rules.line_fault) is refused by its field, and nothing is saved."""
    clerk = browser("clerk")
    line = session.exec(select(MonitoringLine)).one()  # the county's: a fixed 8,700
    token = csrf_of(clerk.get(f"/config/lines/{line.id}").text)
    typo = clerk.post(f"/config/lines/{line.id}", data={
        "csrf_token": token, "fixed_amount": "87000", "multiple": "", "standard_year": "",
        "note": ""}, follow_redirects=False)
    assert typo.status_code == 422
    (reason,) = problems_of(typo.text).values()
    assert list(problems_of(typo.text)) == ["固定金额（元/人·年）"]
    assert "1,000.00" in reason and "50,000.00" in reason
    assert not re.search(r"[A-Za-z]{2,}", reason), reason  # the reason in Chinese too
    added = clerk.post("/config/lines", data={
        "csrf_token": token, "region_id": str(county.ids["village0"]), "year": str(line.year),
        "fixed_amount": "0.01"}, follow_redirects=False)
    assert added.status_code == 422
    assert list(problems_of(added.text)) == ["固定金额（元/人·年）"]
    session.refresh(line)
    assert line.fixed_amount == Decimal("8700")
    assert len(session.exec(select(MonitoringLine)).all()) == 1


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


def test_the_registrys_and_the_terms_refusals_read_in_chinese(county, session,
                                                              browser):  # noqa: F811
    """Issue 17: a county that is not one, a region that is not there, terms of another
    year put in force and a key's next year read as a Chinese sentence and the service's
    English in brackets."""
    admin = browser("admin")
    page = admin.get("/config/contracts").text
    year = START.year + 1
    wrong = admin.post("/config/contracts", data={
        "csrf_token": csrf_of(page), "contract_number": "FPB-X", "insurer": "演示保险",
        "county_id": str(county.ids["village0"]), "policy_year": str(year),
        "start_date": f"{year}-01-01", "end_date": f"{year}-12-31",
        "premium_per_person": "60.00", "insured_basis": "headcount",
        "insured_headcount": "5", "insurer_fee_rate": "0.1", "balance_carried_in": "0",
        "status": "draft"}, follow_redirects=False)
    assert wrong.status_code == 422
    assert "<strong>县</strong>：不是已登记的县" in wrong.text
    page = admin.get("/config/lines").text
    wrong = admin.post("/config/lines", data={
        "csrf_token": csrf_of(page), "region_id": "999999", "year": str(year),
        "fixed_amount": "9100"}, follow_redirects=False)
    assert wrong.status_code == 422 and "未登记：请从列表中选择" in wrong.text

    page = admin.get("/config/terms").text
    next_year = GOOD.replace(f"policy_year = {START.year}", f"policy_year = {year}")
    refused = upload(admin, page, "demo", next_year)
    assert refused.status_code == 422
    assert f"条款 demo 是 {START.year} 年度的：新的保单年度须用新的键名。" in refused.text
    stored = upload(admin, page, "demo-next", next_year)
    assert stored.status_code == 303
    version = session.exec(select(TermsVersion).where(TermsVersion.key == "demo-next")).one()
    put = admin.post(f"/config/terms/{version.id}/in-force", data={
        "csrf_token": csrf_of(page), "contract_id": str(county.contract.id)})
    assert put.status_code == 422
    assert f"该条款为 {year} 年度，合同为 {START.year} 年度。" in put.text
    assert not re.search(r"\((?:terms|region)", put.text + refused.text + wrong.text)
