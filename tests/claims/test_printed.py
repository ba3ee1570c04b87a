"""Printed documents for the household and the village: the payout notice (理赔通知书), the
rejection notice (拒赔通知书) and the formal village notice (公示), as print pages and as PDFs.
Each PDF is read back by pypdf, a reader of its own (the outside check): it is a real PDF set
in a Chinese font of the system, and its text holds the amount, the masked account, the reason
in Chinese, and no ID number or account in full. A claim or village outside a limited user's
area is refused as a missing one; every print is on the audit trail. On SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlmodel import select

from claims import clock, lifecycle
from claims.models import AuditEntry, Claim, Payment, PaymentBatch, Region
from claims.settings import get_settings
from claims.web import printed as web_printed
from policies import registry
from policies.models import Household, RegionCreate
from tests.claims.test_lifecycle import (
    a_new_bill,
    act,
    bank_confirms,
    days_pass,
    export_batch,
    through_notice,
    to_approval,
)
from tests.claims.test_web import browser, form  # noqa: F401 (fixture)

ACCOUNT = "6228480000000000001"  # the county fixture's household


def pdf_text(answer) -> str:
    """The text of a PDF answer as a PDF reader sees it (spaces taken out: a reader may
    break a line of Chinese anywhere)."""
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(answer.content))
    fonts = {str(font["/BaseFont"]) for page in reader.pages
             for font in page["/Resources"]["/Font"].values()}
    assert any("CJK" in name for name in fonts), fonts  # set in the system's Chinese face
    box = reader.pages[0].mediabox  # A4: 595 × 842 points
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    return "".join("".join(page.extract_text() for page in reader.pages).split())


def prints(session, document: str) -> list[AuditEntry]:
    """The trail's entries of a document shown on screen or printed."""
    return session.exec(select(AuditEntry).where(AuditEntry.action.in_(["view", "print"]),
                                                 AuditEntry.reason == document)
                        .order_by(AuditEntry.id)).all()


@pytest.fixture
def phone(monkeypatch):
    monkeypatch.setenv("FANGPIN_OBJECTION_PHONE", "0374-8888123")
    get_settings.cache_clear()
    yield "0374-8888123"
    monkeypatch.undo()
    get_settings.cache_clear()


def approved(session, claim) -> Claim:
    row = session.get(Claim, claim.id)
    row.state, row.approved_amount = "payment_pending", row.entitled
    session.commit()
    return row


def test_the_payout_notice_of_an_approved_claim_as_page_and_pdf(browser, session, claim,  # noqa: F811
                                                                county):
    clerk = browser("clerk")
    assert "payout-notice" not in clerk.get(f"/claims/{claim.id}").text  # not yet approved
    refused = clerk.get(f"/claims/{claim.id}/payout-notice")
    assert refused.status_code == 409 and "已批准或已赔付的案件" in refused.text
    approved(session, claim)
    assert f"/claims/{claim.id}/payout-notice" in clerk.get(f"/claims/{claim.id}").text

    page = clerk.get(f"/claims/{claim.id}/payout-notice")
    assert page.status_code == 200 and "理赔通知书" in page.text
    assert "7,500.00" in page.text and "****0001" in page.text and ACCOUNT not in page.text
    assert "人民币柒仟伍佰元整" in page.text  # the amount in capitals, on a Chinese notice only
    assert "printed.css" in page.text and "data-print" in page.text

    text = pdf_text(clerk.get(f"/claims/{claim.id}/payout-notice.pdf"))
    head = county.members[0]
    assert "理赔通知书" in text and claim.claim_number in text
    assert "7,500.00" in text and "****0001" in text and "农村商业银行" in text
    assert "本次事件赔付7,500.00" in text  # the calculation, line by line
    assert "批准金额（大写）人民币柒仟伍佰元整" in text
    assert ACCOUNT not in text and head.id_number not in text and head.name not in text
    assert head.id_number[:4] + "*" * 10 + head.id_number[-4:] in text
    assert "演示保险" in text and "（盖章）" in text
    assert f"{clock.county_today().year}年" in text

    english = browser("clerk", language="en").get(f"/claims/{claim.id}/payout-notice").text
    assert "7,500.00" in english and "人民币" not in english and "in capitals" not in english

    entries = prints(session, "payout_notice")
    assert [e.after["format"] for e in entries] == ["html", "pdf", "html"]
    # a page on screen is a view, a PDF printed (a tester's look read 打印)
    assert [e.action for e in entries] == ["view", "print", "view"]
    assert entries[0].entity == "household" and entries[0].actor.startswith("user:")
    assert entries[0].after["about"] == claim.claim_number
    assert entries[0].after["names"] == "masked"


def test_the_payout_notice_says_when_the_bank_paid_on_the_countys_calendar(
        browser, session, claim):  # noqa: F811
    row = approved(session, claim)
    batch = PaymentBatch(batch_number="PB-PRINT")
    session.add(batch)
    session.flush()
    # 17:30 UTC on 1 March is 01:30 on 2 March in Beijing: the county's date is the 2nd
    session.add(Payment(batch_id=batch.id, claim_id=row.id, amount=row.entitled,
                        bank_name="农村信用社", bank_account="6217000000000009876",
                        state="paid", paid_at=datetime(2026, 3, 1, 17, 30, tzinfo=UTC)))
    row.state, row.paid_amount = "paid", row.entitled
    session.commit()
    text = pdf_text(browser("auditor").get(f"/claims/{claim.id}/payout-notice.pdf"))
    assert "2026年3月2日" in text and "2026年3月1日" not in text
    assert "****9876" in text and "6217000000000009876" not in text and "农村信用社" in text


def test_a_user_who_may_reveal_prints_the_name_in_full_on_the_audit_trail(
        browser, session, claim, county):  # noqa: F811
    approved(session, claim)
    supervisor = browser("supervisor", may_reveal=True, language="en")
    text = pdf_text(supervisor.get(f"/claims/{claim.id}/payout-notice.pdf"))
    head = county.members[0]
    assert "Payoutnotice" in text and head.name in text and head.id_number not in text
    assert ACCOUNT not in text and "****0001" in text
    assert prints(session, "payout_notice")[-1].after["names"] == "full"


def test_the_rejection_notice_gives_the_reason_in_words_and_the_deadline(
        browser, session, claim, phone):  # noqa: F811
    adjudicator = browser("adjudicator")
    form(adjudicator, claim, "reject", code="below_deductible", text="自付部分未超过起付线")
    page = adjudicator.get(f"/claims/{claim.id}").text
    assert f"/claims/{claim.id}/rejection-notice" in page
    assert f"/claims/{claim.id}/payout-notice" not in page

    text = pdf_text(adjudicator.get(f"/claims/{claim.id}/rejection-notice.pdf"))
    deadline = clock.county_today() + timedelta(days=get_settings().objection_days)
    assert "拒赔通知书" in text and claim.claim_number in text
    assert "您户自付的费用未超过保险规定由农户自负的部分（起付标准）" in text
    assert "自付部分未超过起付线" in text
    assert f"{deadline.year}年{deadline.month}月{deadline.day}日前" in text
    assert "0374-8888123" in text and ACCOUNT not in text
    english = browser("clerk", language="en").get(f"/claims/{claim.id}/rejection-notice")
    assert "Rejection notice" in english.text and "(the deductible)" in english.text
    assert adjudicator.get(f"/claims/{claim.id}/payout-notice.pdf").status_code == 409
    assert [e.after["format"] for e in prints(session, "rejection_notice")] == ["pdf", "html"]


def test_a_claim_outside_the_area_is_refused_as_a_missing_one(browser, session, claim,  # noqa: F811
                                                              county):
    approved(session, claim)
    other = registry.create_region(session, RegionCreate(
        code="411081101", name="花石镇", level="township", parent_id=county.ids["county"]))
    session.commit()
    elsewhere = browser("clerk", townships=[other.id])
    for path in ("payout-notice", "payout-notice.pdf", "rejection-notice",
                 "rejection-notice.pdf"):
        answer = elsewhere.get(f"/claims/{claim.id}/{path}")
        assert answer.status_code == 404, path
        assert claim.claim_number not in answer.text and "不在您负责的区域" in answer.text
    assert elsewhere.get(f"/notice/{county.ids['village0']}.pdf").status_code == 404
    assert prints(session, "payout_notice") == []
    here = browser("clerk", townships=[session.get(Region, county.ids["village0"]).parent_id])
    assert here.get(f"/claims/{claim.id}/payout-notice.pdf").status_code == 200


def test_the_village_notice_as_a_formal_notice_and_pdf(browser, session, claim, county,  # noqa: F811
                                                       phone):
    investigator, clerk = browser("investigator"), browser("clerk")
    form(investigator, claim, "start_investigation")
    form(investigator, claim, "submit_survey", visit_date=str(clock.county_today()),
         team="甲，乙", findings="属实", asset_check="存款: 无")
    form(clerk, claim, "record_review", outcome="agree", representatives="代表甲")
    days_pass(session, claim, 2)
    start = clock.county_today() - timedelta(days=2)
    form(clerk, claim, "start_notice", start_date=str(start))
    village = county.ids["village0"]
    page = clerk.get("/notice", params={"village": village}).text
    assert f'href="/notice/{village}.pdf"' in page and "0374-8888123" in page
    # an objection is the clerk's to record; the auditor was offered it, always refused
    assert "记录异议" in page
    assert "记录异议" not in browser("auditor").get("/notice", params={"village": village}).text
    assert "（盖章）" in page and "村民委员会" in page

    text = pdf_text(clerk.get(f"/notice/{village}.pdf"))
    head = county.members[0]
    name = session.get(Region, village).name
    end = start + timedelta(days=6)  # seven days with the first: closed from the eighth
    assert "公示" in text and claim.claim_number in text and "7,500.00" in text
    assert f"公示期：{start.year}年{start.month}月{start.day}日至{end.year}年{end.month}月" \
           f"{end.day}日" in text
    assert f"{name}村民委员会" in text and "0374-8888123" in text and "（盖章）" in text
    assert head.id_number not in text and head.name not in text
    assert head.id_number[:4] + "*" * 10 + head.id_number[-4:] in text
    assert "记录异议" not in text  # the page's links stay on the screen
    entries = prints(session, "village_notice")
    # each showing on screen viewed, the PDF printed (the screen's had been left out)
    assert [e.action for e in entries] == ["view", "view", "print"]
    entry = entries[-1]
    assert entry.entity == "region" and entry.after["claims"] == [claim.claim_number]
    assert clerk.get("/notice/999999.pdf").status_code == 404


def test_without_a_chinese_font_the_pdf_says_so(browser, session, claim, monkeypatch):  # noqa: F811
    assert web_printed.cjk_font() in web_printed.CJK_FAMILIES  # this machine has one
    approved(session, claim)
    monkeypatch.setattr(web_printed, "cjk_font", lambda: None)
    answer = browser("clerk").get(f"/claims/{claim.id}/payout-notice.pdf")
    assert answer.status_code == 500 and "fonts-noto-cjk" in answer.text
    assert "没有安装中文字体" in answer.text
    assert browser("clerk").get("/notice/1.pdf").status_code == 500
    assert prints(session, "payout_notice") == []  # nothing left the system


def test_a_notice_is_addressed_to_the_living_head(browser, session, claim, county):  # noqa: F811
    """The head died and the son became head: the rejection notice names the son, as the
    payment's account holder does, not the dead man (found by a hostile tester)."""
    from claims import masking
    from policies.models import MemberUpdate

    old, son = county.members[0], county.members[1]
    registry.update_member(session, old.id, MemberUpdate(status="deceased"))
    registry.update_member(session, son.id, MemberUpdate(relation="head"))
    session.commit()
    adjudicator = browser("adjudicator")
    form(adjudicator, claim, "reject", code="below_deductible", text="自付部分未超过起付线")

    page = adjudicator.get(f"/claims/{claim.id}/rejection-notice").text

    assert masking.name(son.name) in page
    assert masking.name(old.name) not in page


def test_the_payout_notice_of_a_supplement_says_what_was_paid_and_what_is_to_come(
        browser, session, claim):  # noqa: F811
    """A bill after the payment raised the amount approved to 12,500 of which 7,500 was
    paid: the notice says 7,500 is paid and 5,000 is to come, not that 12,500 is still to
    be paid; once the supplement is paid, that it was paid in two payments (a hostile
    tester's notice read as if the whole were still coming)."""
    row = approved(session, claim)
    batch = PaymentBatch(batch_number="PB-SUPP")
    session.add(batch)
    session.flush()
    session.add(Payment(batch_id=batch.id, claim_id=row.id, amount=Decimal("7500.00"),
                        bank_name="农村信用社", bank_account="6217000000000009876",
                        state="paid", paid_at=datetime(2026, 3, 1, 2, 0, tzinfo=UTC)))
    row.state, row.paid_amount = "payment_pending", Decimal("7500.00")
    row.entitled = row.approved_amount = Decimal("12500.00")
    session.commit()
    clerk = browser("clerk")
    page = clerk.get(f"/claims/{claim.id}/payout-notice").text
    assert "赔款7,500.00元已于2026年3月1日转入" in page
    assert "其余5,000.00元将转入您户在农村信用社的账户" in page
    session.add(Payment(batch_id=batch.id, claim_id=row.id, amount=Decimal("5000.00"),
                        bank_name="农村信用社", bank_account="6217000000000009876",
                        state="paid", paid_at=datetime(2026, 4, 1, 2, 0, tzinfo=UTC)))
    row.state, row.paid_amount = "paid", Decimal("12500.00")
    session.commit()
    page = clerk.get(f"/claims/{claim.id}/payout-notice").text
    assert "赔款12,500.00元已分2次支付，最后一次于2026年4月1日转入" in page


def test_less_than_is_due_is_approved_with_a_reason_the_household_reads(
        staff, client, session, claim, browser):  # noqa: F811
    """A second approver cut 10,000 to 9,000 without a word, and the payout notice said only
    that 9,000 was approved (a tester's): approving less than is due needs a note, and the
    household's notice gives it."""
    to_approval(staff, claim, session)
    act(staff["adjudicator"], claim, "approve", {"amount": "7500.00"})
    silent = act(staff["supervisor"], claim, "approve", {"amount": "6000.00"})
    assert silent.status_code == 422 and silent.json()["field"] == "note"
    assert act(staff["supervisor"], claim, "approve", {
        "amount": "6000.00", "note": "入户核实后核减 1,500 元"}).status_code == 200
    notice = browser("clerk").get(f"/claims/{claim.id}/payout-notice").text
    assert "核减原因：入户核实后核减 1,500 元" in notice


def test_the_notice_gives_the_reason_of_the_cut_not_of_its_confirmation(
        staff, client, session, claim, browser):  # noqa: F811
    """The adjudicator cut the amount with a reason and a supervisor confirmed it with the
    bulk page's note "批量通过", which the notice then gave as the reason (a re-tester's)."""
    to_approval(staff, claim, session)
    staff_limit = act(staff["adjudicator"], claim, "approve",
                      {"amount": "6000.00", "note": "自费药品不予赔付"})
    assert staff_limit.status_code == 200 and staff_limit.json()["state"] == "approval"
    assert act(staff["supervisor"], claim, "approve",
               {"amount": "6000.00", "note": "批量通过"}).status_code == 200
    notice = browser("clerk").get(f"/claims/{claim.id}/payout-notice").text
    assert "核减原因：自费药品不予赔付" in notice and "批量通过" not in notice


def test_a_cut_stays_cut_when_a_new_bill_reopens_the_claim(
        staff, client, department, session, claim, browser):  # noqa: F811
    """A tester's claim of 7,500 was approved at 6,500 with a reason and paid; a new bill
    reopened it, and the whole 6,000 then due (the bill's 5,000 and the 1,000 cut) was
    proposed and approved without a word, silently undoing the cut. The reopened claim
    proposes the bill's supplement; giving the cut back needs a note of its own."""
    to_approval(staff, claim, session)
    assert act(staff["supervisor"], claim, "approve", {
        "amount": "6500.00", "note": "自费药品不予赔付"}).status_code == 200
    bank_confirms(client, export_batch(client))
    a_new_bill(department, session, "HIS-2")
    session.expire_all()
    reopened = session.get(Claim, claim.id)
    assert (reopened.state, reopened.entitled, reopened.paid_amount) == (
        "reopened", Decimal("12500.00"), Decimal("6500.00"))

    def noticed():
        # the village is shown this round's amount, not the year's 12,500 paid in part (a
        # tester's notice read 21,000 of a supplement of 11,000)
        page = browser("clerk").get("/notice", params={
            "village": session.get(Household, claim.household_id).village_id}).text
        row = re.search(rf"{claim.claim_number}.*?</tr>", page, re.S).group(0)
        assert "5,000.00" in row and "12,500.00" not in row, row

    through_notice(staff, session, reopened, notice=noticed)
    page = browser("supervisor").get(f"/claims/{claim.id}").text
    assert 'value="5000.00"' in page  # proposed: the new bill's 5,000, not 6,000
    assert "此前的审批已从本案核减 1,000.00 元（自费药品不予赔付）" in page
    silent = act(staff["supervisor"], reopened, "approve", {"amount": "6000.00"})
    assert silent.status_code == 422 and silent.json()["code"] == "cut_given_back"
    assert client.get(f"/api/claims/{claim.id}").json()["proposed"] == "5000.00"
    # the adjudicator gives the cut back, with a note; the supervisor who overrules that
    # says why too (an 11,000 had overruled a 12,000 unsaid: a tester's)
    assert act(staff["adjudicator"], reopened, "approve", {
        "amount": "6000.00", "note": "复核后属目录内"}).json()["state"] == "approval"
    unsaid = act(staff["supervisor"], reopened, "approve", {"amount": "5000.00"})
    assert unsaid.status_code == 422 and unsaid.json()["code"] == "overrules_first"
    assert act(staff["supervisor"], reopened, "approve", {
        "amount": "5000.00", "note": "维持原核减"}).status_code == 200
    batch = export_batch(client)
    assert batch["lines"][0]["amount"] == "5000.00"
    bank_confirms(client, batch)
    session.expire_all()
    paid = session.get(Claim, claim.id)
    assert (paid.state, paid.paid_amount) == ("paid", Decimal("11500.00"))
    notice = browser("clerk").get(f"/claims/{claim.id}/payout-notice").text
    assert "核减原因：自费药品不予赔付" in notice


def test_an_earlier_cut_is_given_back_only_with_a_note(staff, client, department, session,
                                                         claim):
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "6500.00", "note": "自费药品"})
    bank_confirms(client, export_batch(client))
    a_new_bill(department, session, "HIS-2")
    session.expire_all()
    reopened = session.get(Claim, claim.id)
    through_notice(staff, session, reopened)
    back = act(staff["supervisor"], reopened, "approve",
               {"amount": "6000.00", "note": "复核后自费药品属目录内"})
    assert back.status_code == 200 and back.json()["approved_amount"] == "12500.00"
    bank_confirms(client, export_batch(client))
    session.expire_all()
    assert lifecycle.earlier_cut(session.get(Claim, claim.id)) == Decimal("0.00")


@pytest.mark.parametrize("action", ["reject", "withdraw"])
def test_refusing_a_reopened_rounds_supplement_keeps_the_claim_paid_and_says_why(
        staff, client, department, session, claim, browser, action):  # noqa: F811
    """A tester's claim, paid 6,500 and reopened by a second bill, read 拒赔 once the
    supplement was rejected, with 6,500 paid: its payout notice was refused and the report
    counted the money as rejected; a withdrawn supplement left the gap unexplained. The
    supplement is refused with its reason: the claim stays paid, its notice says why less is
    paid, and a later bill reopens it for its own supplement only."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "6500.00", "note": "自费药品"})
    bank_confirms(client, export_batch(client))
    a_new_bill(department, session, "HIS-2")
    body = ({"code": "not_eligible", "text": ""} if action == "reject"
            else {"reason": "农户放弃本次补充申请"})
    if action == "reject":
        bare = act(staff["adjudicator"], claim, action, body)
        assert bare.status_code == 422 and bare.json()["code"] == "refusal_reason"
        body["text"] = "第二次住院属非合规转诊"
    refused = act(staff["adjudicator"], claim, action, body)
    assert refused.status_code == 200 and refused.json()["state"] == "paid", refused.text
    session.expire_all()
    paid = session.get(Claim, claim.id)
    assert (paid.paid_amount, paid.rejection_code, lifecycle.earlier_cut(paid)) == (
        Decimal("6500.00"), None, Decimal("6000.00"))  # 12,500 due in all
    notice = browser("clerk").get(f"/claims/{claim.id}/payout-notice").text
    why = "第二次住院属非合规转诊" if action == "reject" else "农户放弃本次补充申请"
    assert f"核减原因：{why}" in notice
    rows = {row["group"]: row for row in client.get(
        "/api/reports/claims", params={"by": "state"}).json()["rows"]}
    assert set(rows) == {"paid"}


def test_a_bank_name_typed_with_an_id_number_is_masked_where_it_is_shown(
        browser, client, session, claim, county):  # noqa: F811
    """A hostile tester's household bank name "农行 4110…0013" showed the ID number in full in
    the household's JSON, the payment batch and the payout notice, to users who may not
    reveal it (the audit trail masked it)."""
    number = county.members[0].id_number
    household = session.get(Household, claim.household_id)
    household.bank_name = f"农行 {number}"
    session.add(household)
    approved(session, claim)
    masked = f"农行 {number[:4]}{'*' * 10}{number[-4:]}"
    clerk = browser("clerk")
    notice = clerk.get(f"/claims/{claim.id}/payout-notice").text
    assert masked in notice and number not in notice
    lines = client.post("/api/payment-batches").json()["lines"]
    assert lines[0]["bank_name"] == masked
