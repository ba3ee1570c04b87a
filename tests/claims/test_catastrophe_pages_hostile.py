"""What a hostile tester sent to the catastrophe and village pages, each answered as a form's
refusal in the reader's language: a superscript digit ("²" passes str.isdigit(), int()
refuses it) is no 500; the declaration form says why a field is not valid; a catastrophe's
name is not a person's (姓名); a village outside the reader's area, a township sent as the
village, a team of one person named twice, a path or query value that is no number and an
id beyond what the database holds are named in words, never by the service's English or a
parameter's raw name. SQLite and PostgreSQL."""

from __future__ import annotations

import re

from claims.web.i18n import catalog, translator
from claims.web.pages import STEP_REFUSALS, refusal
from policies.errors import Conflict, InvalidInput
from tests.claims.test_catastrophes import FLOOD_START, INSIDE, build, flood, report, submit
from tests.claims.test_lifecycle import SURVEY
from tests.claims.test_web import browser  # noqa: F401 — the pages' fixture

TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.S)


def csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def said(answer) -> str:
    """The words of a page's main part."""
    return " ".join(TAGS.sub(" ", answer.text.split("<main", 1)[-1]).split())


def english(text: str) -> list[str]:
    return re.findall(r"[A-Za-z_]{3,}", text)


def _declared(w) -> dict:
    made = w.clients["clerk"].post("/api/catastrophes", json=flood(regions=[w.ids["county"]]))
    assert made.status_code == 201, made.text
    return made.json()


def _survey_form(token: str, village) -> dict:
    return {"csrf_token": token, "village": village, "visit_date": SURVEY["visit_date"],
            "team": "王查勘, 李查勘", "findings": "房屋倒塌", "asset_bank_deposits": "无"}


# --- A: a superscript digit is the form's refusal, not a 500 ------------------------------------

def test_a_superscript_digit_is_the_forms_refusal_not_a_server_error(
        app, session, browser):  # noqa: F811
    w = build(app, session)
    submit(session, w, report("E1", 1, INSIDE))
    made = _declared(w)
    inv = browser("investigator")
    token = csrf(inv.get(f"/catastrophes/{made['id']}/survey").text)
    survey = f"/catastrophes/{made['id']}/survey"
    for data, words in (({"village": "²", "claim_id": "1"}, "请选择村"),
                        ({"village": w.ids["village0"], "claim_id": "²"}, "案件——不是整数"),
                        ({"village": w.ids["village0"], "claim_id": "1" * 40}, "案件——过大")):
        answer = inv.post(survey, data={**_survey_form(token, None), **data})
        assert answer.status_code == 422 and words in said(answer), (data, said(answer))

    clerk = browser("clerk")
    token = csrf(clerk.get("/review").text)
    for path, data, words in (
            ("/review", {"village": "²", "representatives": "张三"}, "请选择村"),
            ("/review", {"village": w.ids["village0"], "representatives": "张三",
                         "disagree": "²"}, "不是整数"),
            ("/notice/start", {"village": "²"}, "请选择村"),
            ("/notice/close", {"village": "³"}, "请选择村")):
        answer = clerk.post(path, data={"csrf_token": token, **data})
        assert answer.status_code == 422 and words in said(answer), (path, data, said(answer))

    form = {"csrf_token": token, "name": "七月洪涝", "kind": "flood", "regions": ["²"],
            "start_date": str(FLOOD_START), "end_date": "", "reference": ""}
    for path in ("/catastrophes", f"/catastrophes/{made['id']}"):
        answer = clerk.post(path, data=form)
        assert answer.status_code == 422, (path, said(answer))
        assert "受灾区域——不是整数" in said(answer), said(answer)


# --- B and C: the declaration form says why, and names a catastrophe's name as such ---------------

def test_the_declaration_forms_say_which_field_and_why(app, session, browser):  # noqa: F811
    w = build(app, session)
    made = _declared(w)
    clerk = browser("clerk")
    listing = clerk.get("/catastrophes")
    token = csrf(listing.text)
    form = {"csrf_token": token, "name": "七月洪涝", "kind": "flood",
            "regions": [w.ids["county"]], "start_date": str(FLOOD_START), "end_date": "",
            "reference": ""}
    for change, words in (({"name": "洪" * 200}, "灾害名称——过长"),
                          ({"kind": "meteor"}, "灾害种类——不是允许的取值"),
                          ({"start_date": "2026-02-30"}, "起始日期——不是日期（年-月-日）"),
                          ({"regions": []}, "受灾区域——必填"),
                          ({"name": "洪\x07水"}, "灾害名称——第 2 个字符是控制字符"),
                          # read by every township: no contact's ID or mobile (a tester's)
                          ({"name": "洪涝 联系人 13812345678"},
                           "灾害名称——含有身份证号、银行卡号或手机号")):
        answer = clerk.post("/catastrophes", data={**form, **change})
        assert answer.status_code == 422 and words in said(answer), (change, said(answer))
        assert "姓名" not in said(answer) and not english(said(answer)), said(answer)
    changed = clerk.post(f"/catastrophes/{made['id']}", data={**form, "name": "洪" * 200})
    assert changed.status_code == 422 and "灾害名称——过长" in said(changed), said(changed)

    # the list's heading and the form's label: the catastrophe's name, not a person's
    assert "灾害名称" in listing.text and "姓名" not in listing.text
    page = clerk.get(f"/catastrophes/{made['id']}").text
    assert "灾害名称" in page and "姓名" not in page


# --- D: codes and the catalog's words, not the service's English or raw names -------------------

def test_a_village_elsewhere_or_no_village_is_said_in_words(app, session, browser):  # noqa: F811
    w = build(app, session)
    submit(session, w, report("E1", 1, INSIDE), report("E3", 30, INSIDE))
    made = _declared(w)
    survey = f"/catastrophes/{made['id']}/survey"
    inv = browser("investigator", townships=[w.ids["township"]])
    token = csrf(inv.get("/catastrophes").text)
    elsewhere = inv.post(survey, data={**_survey_form(token, w.ids["village_b"]),
                                       "claim_id": "2"})
    assert elsewhere.status_code == 403 and "乙村" in said(elsewhere), said(elsewhere)
    assert "不在您负责的区域" in said(elsewhere) and not english(said(elsewhere))
    township = inv.post(survey, data={**_survey_form(token, w.ids["township"]),
                                      "claim_id": "1"})
    assert township.status_code == 422 and "请选择一个村。" in said(township), said(township)
    assert not english(said(township))
    missing = inv.post(survey, data={**_survey_form(token, 99999), "claim_id": "1"})
    assert missing.status_code == 422 and "请选择一个村。" in said(missing), said(missing)

    clerk = browser("clerk", townships=[w.ids["township"]])
    token = csrf(clerk.get("/review").text)
    for path, data in (("/review", {"representatives": "张三"}), ("/notice/start", {}),
                       ("/notice/close", {})):
        answer = clerk.post(path, data={"csrf_token": token, "village": w.ids["village_b"],
                                        **data})
        assert answer.status_code == 403 and "乙村" in said(answer), (path, said(answer))
        assert not english(said(answer)), said(answer)
        answer = clerk.post(path, data={"csrf_token": token, "village": w.ids["township"],
                                        **data})
        assert answer.status_code == 422 and "请选择一个村。" in said(answer), (path,
                                                                           said(answer))


def test_a_team_of_one_person_twice_is_said_in_words(app, session, browser):  # noqa: F811
    w = build(app, session)
    submit(session, w, report("E1", 1, INSIDE))
    made = _declared(w)
    inv = browser("investigator")
    survey = f"/catastrophes/{made['id']}/survey"
    token = csrf(inv.get(survey).text)
    answer = inv.post(survey, data={**_survey_form(token, w.ids["village0"]), "claim_id": "1",
                                    "team": "王查勘, 王查勘"})
    assert answer.status_code == 422 and "调查人员——" in said(answer), said(answer)
    assert not english(said(answer)), said(answer)


def test_a_value_that_is_no_number_is_named_by_its_label(app, session, browser):  # noqa: F811
    w = build(app, session)
    made = _declared(w)
    inv = browser("investigator")
    bad_query = inv.get(f"/catastrophes/{made['id']}/survey?village=abc")
    assert bad_query.status_code == 422 and "无效：村" in said(bad_query), said(bad_query)
    bad_path = inv.get("/catastrophes/abc")
    assert bad_path.status_code == 422 and "无效：灾害事件" in said(bad_path), said(bad_path)
    for answer in (bad_query, bad_path):
        assert not english(said(answer)), said(answer)
    # the API keeps its answer: the parameter's name, for a program
    api = w.clients["clerk"].get("/api/catastrophes/abc")
    assert (api.status_code, api.json()["field"]) == (422, "catastrophe_id")


# --- E: an id beyond what the database holds names its parameter ---------------------------------

def test_an_id_out_of_range_names_its_parameter(app, session, browser):  # noqa: F811
    w = build(app, session)
    made = _declared(w)
    clerk = w.clients["clerk"]
    for send, field in (
            (lambda: clerk.post("/api/catastrophes", json=flood(regions=[2**70])), "regions.0"),
            (lambda: clerk.get(f"/api/catastrophes/{2**70}"), "catastrophe_id"),
            (lambda: w.clients["inv"].post(f"/api/catastrophes/{made['id']}/surveys",
                                           json={"village_id": 2**63, "survey": SURVEY}),
             "village_id")):
        answer = send()
        session.rollback()  # PostgreSQL's refusal ends the transaction the test shares
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field, answer.text
        assert "out of range" in answer.json()["message"]
    page = browser("clerk").get(f"/catastrophes/{2**70}")
    assert page.status_code == 422 and "超出范围：灾害事件" in said(page), said(page)


# --- F: the service's new codes have their words ------------------------------------------------

def test_the_catastrophes_new_refusals_have_their_chinese():
    zh, chinese = translator("zh"), catalog("zh")
    for code in ("duplicate_declaration", "end_in_future", "visit_before_loss",
                 "not_a_village", "outside_area"):
        assert STEP_REFUSALS[code] in chinese, code
    for error, words in (
            (Conflict("x", field="name", code="duplicate_declaration",
                      values={"name": "七月洪涝"}), "七月洪涝"),
            (InvalidInput("x", field="end_date", code="end_in_future"), "终止日期"),
            (InvalidInput("x", field="visit_date", code="visit_before_loss",
                          values={"earliest": "2026-07-01"}), "2026-07-01"),
            (InvalidInput("x", field="village_id", code="not_a_village"), "请选择一个村。")):
        text = refusal(error, zh)
        assert words in text and not english(text), text


# --- B: a refusal is drawn after the request's own session has closed ---------------------------

def test_a_refused_form_is_its_error_page_when_the_request_has_a_session_of_its_own(
        own_engine):
    """In the service every request has a session of its own, closed before an error page is
    drawn. A page that rolled its refusal back expired the signed-in user with it, and the
    error page, reading the user's role for the menu, was a bare 500 "Internal Server Error"
    (the other tests share one session that never closes, and could not see it)."""
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from claims.app import create_app
    from claims.db import get_session, sessions_on
    from tests.claims.test_catastrophes import PASSWORD

    app = create_app()
    app.dependency_overrides[get_session] = sessions_on(lambda: own_engine)
    with Session(own_engine, expire_on_commit=False) as session:
        w = build(app, session)
    made = _declared(w)
    other = w.clients["clerk"].post("/api/catastrophes", json=flood(
        regions=[w.ids["village1"]], kind="hail", reference="YJ-HAIL-1"))
    assert other.status_code == 201, other.text
    with TestClient(app, cookies={"fangpin_lang": "zh"}) as clerk:
        answer = clerk.post("/login", follow_redirects=False, data={
            "username": "clerk", "password": PASSWORD, "csrf_token": csrf(clerk.get(
                "/login").text)})
        assert answer.status_code == 303, answer.text
        token = csrf(clerk.get("/catastrophes").text)
        taken = {"csrf_token": token, "name": "又一次洪涝", "kind": "flood",
                 "regions": [str(w.ids["village1"])], "start_date": str(FLOOD_START),
                 "end_date": "", "reference": made["reference"]}
        for path in ("/catastrophes", f"/catastrophes/{other.json()['id']}"):
            answer = clerk.post(path, data=taken)
            assert answer.status_code == 409, (path, answer.status_code, answer.text[:300])
            assert "文号" in said(answer) and "clerk" in answer.text, said(answer)
        answer = clerk.post("/catastrophes/999999/close", data={"csrf_token": token,
                                                                "end_date": ""})
        assert answer.status_code == 404, answer.text[:300]
