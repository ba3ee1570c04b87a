"""What a browser walk over every page as every role found staff reading (6 Dec 2026): a
payout notice whose calculation's total was not the amount approved, with nothing to say
why; a flood's calculation in raw amount names; the audit search's dates labelled as a
notice's; "event" as the reason a claim was opened; a menu link a township-limited user is
always refused; an empty caption on a claim's risk card; a catastrophe past its end shown
as going on. Then (a second walk): a document's uploader by username, not by name; a paid
batch still offering its bank file as the next step; the demo county's English notes and
insurer. Chinese pages, SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from sqlmodel import select

from claims.models import Claim, Payment
from policies import demo
from policies.models import MonitoringLine, PolicyContract
from tests.claims.test_access import PNG
from tests.claims.test_catastrophes import FLOOD_END, INSIDE, build, flood, report, submit
from tests.claims.test_printed import approved
from tests.claims.test_web import browser, csrf_of  # noqa: F401 — the pages' fixture

TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.S)


def said(page: str) -> str:
    return " ".join(TAGS.sub(" ", page.split("<main", 1)[-1]).split())


def test_a_payout_notice_says_when_the_amount_approved_is_not_the_calculated(
        browser, session, claim):  # noqa: F811
    row = approved(session, claim)
    row.approved_amount = Decimal("3500.00")
    session.commit()
    text = said(browser("clerk").get(f"/claims/{claim.id}/payout-notice").text)
    assert "按条款应赔" in text
    assert "按条款计算共应赔 7,500.00 元；核定赔付金额为 3,500.00 元。" in text
    row.approved_amount = row.entitled
    session.commit()
    assert "按条款计算共应赔" not in browser("clerk").get(
        f"/claims/{claim.id}/payout-notice").text


def test_a_floods_claim_reads_in_words_and_the_trail_says_why_it_opened(
        app, session, browser):  # noqa: F811
    w = build(app, session)
    submit(session, w, report("E1", 1, INSIDE))
    claim = session.exec(select(Claim)).one()
    page = said(browser("supervisor").get(f"/claims/{claim.id}").text)
    assert "核定损失" in page and "assessed_loss" not in page
    assert "由部门推送的事件立案" in page and " event" not in page
    # in English, the calculation's codes in words (a browser walk read "lifted_out" and
    # "+ assessed_loss" on the claim page and the household's payout notice)
    english = said(browser("supervisor", "sup-en", language="en").get(
        f"/claims/{claim.id}").text)
    assert "assessed loss" in english and "lifted out" in english
    assert "assessed_loss" not in english and "lifted_out" not in english
    trail = browser("supervisor").get("/audit", params={"claim": claim.claim_number}).text
    assert "起始日期" in trail and "截止日期" in trail and "公示开始" not in trail
    assert "由部门推送的事件立案" in said(trail)


def test_a_limited_user_is_offered_no_page_it_is_always_refused(
        app, session, browser):  # noqa: F811
    w = build(app, session)
    limited = browser("clerk", townships=[w.ids["township"]])
    assert 'href="/payments"' not in limited.get("/work").text
    assert limited.get("/payments").status_code == 403
    assert 'href="/payments"' in browser("clerk").get("/work").text
    assert 'href="/monitoring/outcomes"' not in limited.get("/monitoring").text
    assert limited.get("/monitoring/outcomes").status_code == 403


def test_a_catastrophe_past_its_end_is_not_going_on(app, session, browser):  # noqa: F811
    w = build(app, session)
    made = w.clients["clerk"].post("/api/catastrophes", json=flood(
        regions=[w.ids["county"]])).json()
    assert made["end_date"] == str(FLOOD_END)
    listing = said(browser("clerk").get("/catastrophes").text)
    assert "已结束，尚未关闭" in listing and "进行中" not in listing
    w.clients["clerk"].patch(f"/api/catastrophes/{made['id']}", json={
        "end_date": str(FLOOD_END + timedelta(days=365))})
    assert "进行中" in said(browser("clerk").get(f"/catastrophes/{made['id']}").text)


def test_a_document_names_who_added_and_withdrew_it(browser, session, claim):  # noqa: F811
    clerk = browser("clerk")
    page = clerk.get(f"/claims/{claim.id}").text
    added = clerk.post(f"/claims/{claim.id}/documents", data={"csrf_token": csrf_of(page)},
                       files={"files": ("bill.png", PNG, "image/png")})
    assert added.status_code == 200, added.text
    document = re.search(r'/documents/(\d+)/withdraw', added.text)[1]
    clerk.post(f"/documents/{document}/withdraw", data={
        "csrf_token": csrf_of(added.text), "reason": "拍错了"})
    text = said(clerk.get(f"/claims/{claim.id}").text)
    assert re.search(r"clerk者 于 [^·]+ 添加", text) and re.search(r"clerk者 于 [^·]+ 撤回：拍错了",
                                                                   text)
    assert clerk.user.username not in text


def test_a_paid_batch_offers_no_bank_file_to_send(browser, session, claim):  # noqa: F811
    approved(session, claim)
    supervisor = browser("supervisor")
    made = supervisor.post("/payments", data={"csrf_token": csrf_of(
        supervisor.get("/payments").text)})
    batch = str(made.url.path)
    assert "下载（明细标记为已导出）" in made.text  # the step to take
    # the claim is in that batch now: none waits for a new one, and none is offered
    listed = supervisor.get("/payments").text
    assert "已审批待支付的案件：0" in said(listed) and " disabled>" in listed
    supervisor.post(f"{batch}/bank-file", data={"csrf_token": csrf_of(made.text)})
    line = session.exec(select(Payment.id)).one()
    confirmed = supervisor.post(f"{batch}/confirmation", data={"csrf_token": csrf_of(made.text)},
                                files={"file": ("a.csv", f"payment_id,status\n{line},paid\n")})
    for page in (confirmed.text, supervisor.get(batch).text):
        assert f'action="{batch}/bank-file"' not in page
        assert f'action="{batch}/confirmation"' not in page
        assert "本批次的每笔明细均已支付或失败" in said(page)
    again = supervisor.post(f"{batch}/bank-file", data={"csrf_token": csrf_of(made.text)})
    assert again.status_code == 409 and "本批次的每笔明细均已支付或失败" in said(again.text)


LATIN = re.compile(r"[A-Za-z]{3,}")


def test_the_demo_county_tells_its_staff_in_chinese(session):
    county = demo.build_demo_county(session, households=20, seed=7, year=2026)
    demo.cover_through(session, county, 2027)
    contracts = session.exec(select(PolicyContract.insurer)).all()
    notes = session.exec(select(MonitoringLine.note)).all()
    assert len(contracts) == 2 and len(notes) == 4
    assert not [t for t in [*contracts, *notes] if LATIN.search(t)], [*contracts, *notes]


def test_a_refused_income_figure_is_named_in_words():
    """A hostile tester's English page read "Please correct the form: wages — too small."."""
    from claims.web import pages
    from claims.web.i18n import translator
    from policies.errors import InvalidInput

    error = InvalidInput("wages: too small", field="wages", code="form",
                         values={"field": "wages", "kind": "greater_than_equal",
                                 "why": "Input should be greater than or equal to 0"})
    english = pages.refusal(error, translator("en"))
    chinese = pages.refusal(error, translator("zh"))
    assert english.startswith("Please correct the form: Wages") and "wages" not in english
    assert "工资性收入" in chinese and "wages" not in chinese
