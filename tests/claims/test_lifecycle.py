"""Insurer staff take a claim from opened to paid: every step checked, recorded and audited."""

import csv
import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import select

from claims import auth, clock, lifecycle, people
from claims.auth import SYSTEM
from claims.models import AuditEntry, Claim, ClaimRecord, IncomeRecord
from policies import registry
from policies.models import IncomeRecordCreate, PolicyContract, RegionCreate
from tests.claims.conftest import EVENT_DATE, evaluate, send
from tests.claims.test_intake import illness

SURVEY = {"visit_date": clock.county_today().isoformat(),
          "team": ["王查勘", "李查勘"], "findings": "住院属实，家庭困难",
          "asset_check": {"bank_deposits": "无大额存款", "vehicles": "无", "housing": "自有旧房"},
          "documents": ["出院小结", "费用清单"]}


def act(who, claim, action, data=None):
    return who.post(f"/api/claims/{claim.id}/actions/{action}", json=data)


def days_pass(session, claim, days):
    """Let time pass for a claim: its records move ``days`` into the past."""
    for record in session.exec(select(ClaimRecord).where(ClaimRecord.claim_id == claim.id)):
        record.created_at -= timedelta(days=days)
    session.commit()


def through_notice(staff, session, claim, investigator="investigator", notice=None):
    """The claim's steps to approval; ``notice`` is called while its notice runs."""
    assert act(staff[investigator], claim, "start_investigation").status_code == 200
    assert act(staff["investigator"], claim, "submit_survey", SURVEY).status_code == 200
    assert act(staff["clerk"], claim, "record_review",
               {"outcome": "agree", "representatives": ["村民代表甲", "村民代表乙"]}
               ).status_code == 200
    days_pass(session, claim, 8)  # the review was eight days ago
    started = (clock.county_today() - timedelta(days=7)).isoformat()
    assert act(staff["clerk"], claim, "start_notice", {"start_date": started}).status_code == 200
    if notice is not None:
        notice()
    closed = act(staff["clerk"], claim, "close_notice")
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "approval"


def to_approval(staff, claim, session):
    through_notice(staff, session, claim)


def a_new_bill(department, session, event_id: str) -> None:
    """The department reports another 10,000 of the household's bills, none of it insured,
    and the evaluator takes it."""
    department.post("/api/events", json=illness(
        event_id, total_cost="10000", basic_insurance_paid="0", critical_illness_paid="0",
        medical_assistance_paid="0"))
    evaluate(session)


def export_batch(client):
    """Gather approved claims into a batch and export its bank file; returns the batch."""
    batch = client.post("/api/payment-batches").json()
    client.post(f"/api/payment-batches/{batch['id']}/bank-file")
    return batch


def bank_confirms(client, batch, status="paid"):
    """The bank's answer for every line of a batch."""
    lines = "".join(f"{line['id']},{status}\n" for line in batch["lines"])
    return client.post(f"/api/payment-batches/{batch['id']}/confirmation",
                       files={"file": ("answer.csv", f"payment_id,status\n{lines}".encode())})


def test_from_opened_to_paid_with_a_supervisors_second_approval(staff, client, session, claim):
    to_approval(staff, claim, session)
    assert act(staff["investigator"], claim, "approve", {"amount": "7500.00"}).status_code == 403
    first = act(staff["adjudicator"], claim, "approve", {"amount": "7500.00"})
    assert first.status_code == 200 and first.json()["state"] == "approval"  # over 5,000
    again = act(staff["adjudicator"], claim, "approve", {"amount": "7500.00"})
    assert again.status_code == 403

    def approved() -> dict[str, str]:  # the claims report (and the dashboard) by state
        return {row["group"]: row["approved"] for row in client.get(
            "/api/reports/claims", params={"by": "state"}).json()["rows"]}
    # a first approval is no approval yet (a browser walk's dashboard had counted it)
    assert approved() == {"approval": "0.00"}
    second = act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    assert second.status_code == 200 and second.json()["state"] == "payment_pending"
    assert approved() == {"payment_pending": "7500.00"}

    batch = client.post("/api/payment-batches")
    assert batch.status_code == 201, batch.text
    batch = batch.json()
    assert batch["amount"] == "7500.00" and len(batch["lines"]) == 1
    bank = client.post(f"/api/payment-batches/{batch['id']}/bank-file", params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(bank.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["付款流水号", "户编号", "户主"] and rows[1][5] == "7500.00"

    payment_id = rows[1][0]
    answer = f"付款流水号,状态,银行流水号\n{payment_id},成功,BANK-001\n".encode()
    confirm = client.post(f"/api/payment-batches/{batch['id']}/confirmation",
                          files={"file": ("answer.csv", answer, "text/csv")})
    assert confirm.json()["results"][0]["result"] == "paid"
    again = client.post(f"/api/payment-batches/{batch['id']}/confirmation",
                        files={"file": ("answer.csv", answer, "text/csv")})
    assert again.json()["results"][0]["result"] == "already_paid"
    settled = client.post(f"/api/payment-batches/{batch['id']}/bank-file")  # nothing to send
    assert (settled.status_code, settled.json()["code"]) == (409, "batch_settled")

    session.expire_all()
    paid = session.get(Claim, claim.id)
    assert (paid.state, paid.paid_amount) == ("paid", Decimal("7500.00"))
    ledger = session.exec(select(IncomeRecord).where(IncomeRecord.source == "payout")).all()
    assert [r.transfer_poverty_insurance for r in ledger] == [Decimal("7500.00")]
    fund = client.get(f"/api/contracts/{paid.contract_id}/fund").json()
    assert fund["payouts"] == "7500.00" and fund["insurer_fee"] == "1125.00"

    detail = client.get(f"/api/claims/{claim.id}").json()
    assert [h["action"] for h in detail["history"]] == [
        "open", "start_investigation", "submit_survey", "record_review", "start_notice",
        "close_notice", "approve", "approve", "mark_paid"]
    assert detail["history"][-2]["actor"] == "user:sup"


def test_every_bank_file_is_on_the_trail_and_its_excel_amounts_are_numbers(
        staff, session, claim):
    """Each download of a bank file (full accounts and names) is on the trail, not only the
    first; the finance office pays without may_export. Excel's SUM adds the amounts."""
    import openpyxl
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    payer = staff["supervisor"]  # no may_export, no may_reveal
    batch = payer.post("/api/payment-batches").json()
    path = f"/api/payment-batches/{batch['id']}/bank-file"
    for fmt in ("csv", "xlsx", "csv"):
        assert payer.post(path, params={"format": fmt}).status_code == 200
    trail = session.exec(select(AuditEntry).where(
        AuditEntry.entity == "payment_batch", AuditEntry.action == "export")
        .order_by(AuditEntry.id)).all()
    assert [(e.actor, e.entity_id, e.after) for e in trail] == [
        ("user:sup", batch["batch_number"], {"format": fmt, "lines": 1})
        for fmt in ("csv", "xlsx", "csv")]
    sheet = openpyxl.load_workbook(io.BytesIO(payer.post(
        path, params={"format": "xlsx"}).content)).active
    amount = sheet.cell(row=2, column=6)
    assert (amount.value, amount.data_type, amount.number_format) == (7500, "n", "0.00")
    assert list(csv.reader(io.StringIO(payer.post(path).content.decode("utf-8-sig"))))[1][
        5] == "7500.00"  # CSV has no types: the amount as written


def test_a_new_bill_reopens_a_paid_claim_for_the_supplement_only(
        staff, client, department, session, claim):
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    bank_confirms(client, export_batch(client))
    a_new_bill(department, session, "HIS-2")
    session.expire_all()
    reopened = session.get(Claim, claim.id)
    # cumulative 45,000; above 20,000: 25,000 at 50% = 12,500; 7,500 already paid
    assert (reopened.state, reopened.entitled) == ("reopened", Decimal("12500.00"))
    through_notice(staff, session, reopened)
    over = act(staff["supervisor"], reopened, "approve", {"amount": "5000.01"})
    assert over.status_code == 422 and over.json()["field"] == "amount"  # only 5,000 is due
    supplement = act(staff["supervisor"], reopened, "approve", {"amount": "5000.00"})
    assert supplement.status_code == 200 and supplement.json()["state"] == "payment_pending"
    assert supplement.json()["approved_amount"] == "12500.00"
    batch = client.post("/api/payment-batches").json()
    assert batch["lines"][0]["amount"] == "5000.00"  # the supplement only


def test_a_years_income_recorded_after_a_payout_does_not_take_back_what_it_paid(
        staff, client, department, session, claim):
    """A tester's survey of the year, recorded after a 21,000 payout and counting it as
    transfer income, put the household above the limit: a late bill then recalculated the
    year's claim to nothing paid. The year's claims are judged on the income before the
    contract's first payout to the household."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    bank_confirms(client, export_batch(client))
    paid_on = EVENT_DATE + timedelta(days=5)
    payout = session.exec(select(IncomeRecord).where(IncomeRecord.source == "payout")).one()
    payout.period_start = payout.period_end = paid_on  # paid a few days after the bill
    day = paid_on + timedelta(days=3)
    registry.create_income_record(session, IncomeRecordCreate(  # 60,000 for 3: 20,000 a head
        household_id=claim.household_id, period_start=day - timedelta(days=364),
        period_end=day, wages=Decimal("52500"), transfer_poverty_insurance=Decimal("7500")))
    session.commit()
    a_new_bill(department, session, "HIS-2")
    session.expire_all()
    reopened = session.get(Claim, claim.id)
    # as before the survey: cumulative 45,000 above 20,000 at 50%, 7,500 paid
    assert (reopened.state, reopened.entitled) == ("reopened", Decimal("12500.00"))


def test_a_notice_is_due_the_day_it_may_be_closed(staff, session, claim):
    """The due date stayed the review's: a notice started later, or started again by an
    objection not upheld, was listed overdue while it could not yet be closed (a tester's)."""
    act(staff["investigator"], claim, "start_investigation")
    act(staff["investigator"], claim, "submit_survey", SURVEY)
    act(staff["clerk"], claim, "record_review", {"outcome": "agree", "representatives": ["甲"]})
    days_pass(session, claim, 3)
    today = clock.county_today()
    started = act(staff["clerk"], claim, "start_notice",
                  {"start_date": (today - timedelta(days=1)).isoformat()})
    assert started.json()["due_date"] == str(today + timedelta(days=6))
    objected = act(staff["clerk"], claim, "record_objection",
                   {"text": "有人反映", "upheld": False})
    assert objected.json()["due_date"] == str(today + timedelta(days=7))
    early = act(staff["clerk"], claim, "close_notice").json()
    assert str(today + timedelta(days=7)) in early["message"]


def test_illegal_steps_are_refused_with_409_and_bad_data_with_422(staff, claim):
    assert act(staff["clerk"], claim, "close_notice").status_code == 409
    act(staff["investigator"], claim, "start_investigation")
    lonely = act(staff["investigator"], claim, "submit_survey", {**SURVEY, "team": ["王查勘"]})
    assert lonely.status_code == 422 and lonely.json()["field"] == "team"
    future = act(staff["investigator"], claim, "submit_survey",
                 {**SURVEY, "visit_date": (clock.county_today() + timedelta(days=1)).isoformat()})
    assert future.status_code == 422
    act(staff["investigator"], claim, "submit_survey", SURVEY)
    act(staff["clerk"], claim, "record_review", {"outcome": "agree", "representatives": ["甲"]})
    early = act(staff["clerk"], claim, "close_notice")
    assert early.status_code == 409 and "can be closed from" in early.json()["message"]
    objection = act(staff["clerk"], claim, "record_objection",
                    {"text": "有人反映家中有车", "upheld": True})
    assert objection.json()["state"] == "investigating"
    bad_code = act(staff["adjudicator"], claim, "reject", {"code": "because"})
    assert bad_code.status_code == 422
    rejected = act(staff["adjudicator"], claim, "reject",
                   {"code": "false_information", "text": "名下有车辆"})
    assert rejected.json()["state"] == "rejected"
    assert act(staff["adjudicator"], claim, "withdraw", {"reason": "x"}).status_code == 409


def test_nobody_approves_a_claim_they_investigated(as_user, staff, session, claim):
    through_notice(staff, session, claim)
    # the investigator is made a supervisor: still not the one to approve this claim
    people.update_user(session, SYSTEM, staff["investigator"].user, role="supervisor")
    session.commit()
    auth.forget_actors()
    refused = act(staff["investigator"], claim, "approve", {"amount": "100.00"})
    assert refused.status_code == 403 and "investigated" in refused.json()["message"]


def test_a_survey_keeps_the_browsers_location_checked_field_by_field(staff, session, claim):
    act(staff["investigator"], claim, "start_investigation")
    for where, field in (({"latitude": 91, "longitude": 113.4, "accuracy": 20},
                          "location.latitude"),
                         ({"latitude": 34.2, "longitude": -181, "accuracy": 20},
                          "location.longitude"),
                         ({"latitude": 34.2, "longitude": 113.4, "accuracy": -1},
                          "location.accuracy"),
                         ({"latitude": 34.2, "accuracy": 20}, "location.longitude")):
        refused = act(staff["investigator"], claim, "submit_survey",
                      {**SURVEY, "location": where})
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.json()
    here = {"latitude": 34.156789, "longitude": 113.471234, "accuracy": 18.0}
    assert act(staff["investigator"], claim, "submit_survey",
               {**SURVEY, "location": here}).json()["state"] == "village_review"
    record = session.exec(select(ClaimRecord).where(ClaimRecord.claim_id == claim.id,
                                                    ClaimRecord.kind == "submit_survey")).one()
    assert record.data["location"] == here


def test_limits_count_the_whole_claim_and_people_not_accounts(as_user, client, staff, session,
                                                               claim):
    to_approval(staff, claim, session)
    assert act(client, claim, "approve", {"amount": "1.00"}).status_code == 403  # admins: no
    split = act(staff["adjudicator"], claim, "approve", {"amount": "5000.00",
                                                         "note": "先付五千"})
    assert split.status_code == 200 and split.json()["state"] == "payment_pending"
    same_person = client.post("/api/admin/users", json={
        "username": "adj2", "full_name": "张审核", "role": "supervisor",
        "id_number": "11010519491231002X"})
    assert same_person.status_code == 201
    again = client.post("/api/admin/users", json={
        "username": "adj3", "full_name": "张审核", "role": "adjudicator",
        "id_number": "11010519491231002X"})
    assert again.status_code == 409 and again.json()["field"] == "id_number"


def test_the_survey_is_the_sent_investigators(staff, as_user, claim):
    """A hostile tester's second investigator filed the survey of a claim another was sent
    to; the claim still named the first, and the four-eyes rules looked at the first."""
    act(staff["supervisor"], claim, "start_investigation",
        {"investigator_id": staff["investigator"].user.id})
    other = act(as_user("investigator", "inv-other"), claim, "submit_survey", SURVEY)
    assert other.status_code == 403 and other.json()["code"] == "not_the_investigator"
    assert act(staff["investigator"], claim, "submit_survey", SURVEY).status_code == 200


def test_what_staff_type_into_a_step_has_limits(staff, claim):
    """A hostile tester's survey team member of 100,000 characters and rejection of 200,000
    went into the claim's records, the audit chain and the printed notices."""
    act(staff["investigator"], claim, "start_investigation")
    long_name = act(staff["investigator"], claim, "submit_survey",
                    {**SURVEY, "team": ["王查勘", "李" * 100_000]})
    assert long_name.status_code == 422 and long_name.json()["field"] == "team.1"
    crowd = act(staff["investigator"], claim, "submit_survey",
                {**SURVEY, "team": [f"查勘{i}" for i in range(21)]})
    assert crowd.status_code == 422 and crowd.json()["field"] == "team"
    essay = act(staff["adjudicator"], claim, "reject", {"code": "other", "text": "x" * 200_000})
    assert essay.status_code == 422 and essay.json()["field"] == "text"
    assert act(staff["investigator"], claim, "submit_survey", SURVEY).status_code == 200


def test_the_notice_cannot_start_before_the_review(staff, session, claim):
    act(staff["investigator"], claim, "start_investigation")
    act(staff["investigator"], claim, "submit_survey", SURVEY)
    act(staff["clerk"], claim, "record_review", {"outcome": "agree", "representatives": ["甲"]})
    backdated = act(staff["clerk"], claim, "start_notice", {"start_date": "2000-01-01"})
    assert backdated.status_code == 422 and backdated.json()["field"] == "start_date"


def test_a_rejected_claim_keeps_new_bills_until_a_supervisor_reconsiders(
        staff, department, session, claim):
    act(staff["adjudicator"], claim, "reject", {"code": "not_eligible", "text": "收入超标"})
    late = send(department, session, illness(
        "HIS-9", total_cost="10000", basic_insurance_paid="0", critical_illness_paid="0",
        medical_assistance_paid="0"))
    assert late["payout"] == "0.00" and "reconsider" in late["reason"]
    assert act(staff["adjudicator"], claim, "reconsider", {"reason": "x"}).status_code == 403
    back = act(staff["supervisor"], claim, "reconsider", {"reason": "新的住院费用"})
    assert back.status_code == 200 and back.json()["state"] == "reopened"
    assert back.json()["entitled"] == "12500.00"


def test_a_bad_confirmation_line_is_reported_and_the_rest_applied(staff, client, session,
                                                                   claim):
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = client.post("/api/payment-batches").json()
    client.post(f"/api/payment-batches/{batch['id']}/bank-file")
    line = batch["lines"][0]["id"]
    answer = f"付款流水号,状态\n²,成功\n{'9' * 30},成功\n{line},成功\n".encode()
    results = client.post(f"/api/payment-batches/{batch['id']}/confirmation",
                          files={"file": ("a.csv", answer)}).json()["results"]
    assert [r["result"] for r in results] == ["error", "error", "paid"]



def test_the_banks_amount_must_be_the_lines(staff, client, session, claim):
    """A bank's answer that says it paid another amount than the line's is not recorded as
    the line's payment (the ledger and the fund would count the line's 7,500 for the bank's
    1.00); an empty status is named as such. A hostile tester's 1.00 was recorded as 7,500
    paid."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = export_batch(client)
    line = batch["lines"][0]["id"]

    def answer(rows: str) -> list[dict]:
        return client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
            "file": ("a.csv", f"付款流水号,状态,金额\n{rows}".encode())}).json()["results"]

    first = answer(f"{line},成功,1.00\n{line},,7500\n{line},成功,七千\n")
    assert [(r["result"], r["reason"]) for r in first] == [
        ("error", "the bank paid 1.00 but the line is 7500.00: not recorded; check with the "
                  "bank"),
        ("error", "status is empty: write paid or failed"),
        ("error", "amount 七千 is not an amount of money")]
    from claims.web.office import line_reason_text  # the batch page, in Chinese

    assert [line_reason_text(r["reason"], "zh") for r in first] == [
        "银行支付金额 1.00 与本笔应付 7500.00 不符：未登记，请与银行核对",
        "状态为空：请填写“成功”或“失败”", "金额 七千 不是有效的金额"]
    session.expire_all()
    assert session.get(Claim, claim.id).paid_amount == 0
    assert [r["result"] for r in answer(f"{line},成功,\"7,500.00\"\n")] == ["paid"]
    session.expire_all()
    assert session.get(Claim, claim.id).state == "paid"


def test_the_bank_answer_is_read_under_the_headings_the_batch_page_names(
        staff, client, session, claim):
    """The batch page asks for 付款流水号、状态、银行流水号或失败原因、金额; that third heading
    was dropped without a word, and with it the bank's references and reasons, which then
    read "no reason given" in English on the Chinese page (two testers'). A column the
    answer does not take is refused, naming it; the columns of the bank file it answers
    are read past."""
    from claims.models import Payment
    from claims.web.office import line_reason_text

    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = export_batch(client)
    line = batch["lines"][0]["id"]

    def answer(text: str):
        return client.post(f"/api/payment-batches/{batch['id']}/confirmation",
                           files={"file": ("a.csv", text.encode())})

    unknown = answer(f"付款流水号,状态,流水,金额\n{line},成功,BK1,7500.00\n")
    assert unknown.status_code == 422 and unknown.json()["value"] == "流水", unknown.text
    assert unknown.json()["code"] == "unknown_bank_columns"
    failed = answer(f"付款流水号,状态,银行流水号或失败原因\n{line},失败,账户已冻结\n")
    assert failed.json()["results"][0]["reason"] == "账户已冻结"
    session.expire_all()
    assert session.get(Payment, line).failure_reason == "账户已冻结"
    batch = export_batch(client)  # the claim waits for payment again: a new batch
    line = batch["lines"][0]["id"]
    unexplained = answer(f"付款流水号,状态\n{line},失败\n").json()["results"][0]["reason"]
    assert line_reason_text(unexplained, "zh") == "未说明原因"
    batch = export_batch(client)
    line = batch["lines"][0]["id"]
    memo = answer(f"序号,付款流水号,状态,银行流水号或失败原因,备注,摘要\n"
                  f"1,{line},交易失败,账户已销户,防贫保理赔款,理赔\n").json()["results"]
    assert memo[0]["reason"] == "账户已销户"  # a memo is not why it failed (a re-tester's)
    batch = export_batch(client)
    line = batch["lines"][0]["id"]
    paid = answer(f"付款流水号,户编号,户主,状态,银行流水号或失败原因,金额,交易日期\n"
                  f"{line},H0001,张*,成功,BK20261208001,7500.00,2026-12-08\n")
    assert paid.status_code == 200 and paid.json()["results"][0]["result"] == "paid", paid.text
    session.expire_all()
    assert session.get(Payment, line).bank_reference == "BK20261208001"


def test_the_bank_file_pays_the_account_as_it_is_when_the_file_is_made(
        staff, client, session, claim, county):
    """An account changed after the batch was made is flagged on the batch, and the bank
    file sends the money to it, not to the old one written into the line (a hostile tester's
    money went to the old account with no flag); the refresh is on the audit trail."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = client.post("/api/payment-batches").json()
    assert client.patch(f"/api/households/{county.household.id}",
                        json={"bank_account": "6228480000000000999"}).status_code == 200
    assert client.get(f"/api/payment-batches/{batch['id']}").json()["bank_changes_flagged"] == 1

    sent = client.post(f"/api/payment-batches/{batch['id']}/bank-file").text

    assert "6228480000000000999" in sent and "6228480000000000001" not in sent
    session.expire_all()
    assert session.exec(select(AuditEntry.action).where(
        AuditEntry.entity == "payment_batch", AuditEntry.action == "refresh_payees")).all() == [
        "refresh_payees"]


def test_a_line_with_no_account_holds_the_bank_file_until_one_is_recorded(
        staff, client, session, claim, county):
    """Money is not sent to an empty account: the bank file is refused, naming the
    household, until its account is recorded (a hostile tester's empty account went to the
    bank and a 成功 marked it paid)."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    assert client.patch(f"/api/households/{county.household.id}",
                        json={"bank_account": None}).status_code == 200
    batch = client.post("/api/payment-batches").json()

    held = client.post(f"/api/payment-batches/{batch['id']}/bank-file")

    assert held.status_code == 409 and held.json()["code"] == "no_bank_account"
    assert county.household.household_number in held.json()["value"]
    client.patch(f"/api/households/{county.household.id}",
                 json={"bank_account": "6228480000000000555"})
    sent = client.post(f"/api/payment-batches/{batch['id']}/bank-file")
    assert sent.status_code == 200 and "6228480000000000555" in sent.text

def test_a_failed_payment_is_issued_again_in_a_later_batch(staff, client, session, claim):
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    first = client.post("/api/payment-batches").json()
    client.post(f"/api/payment-batches/{first['id']}/bank-file", params={"format": "xlsx"})
    line = first["lines"][0]["id"]
    failed = client.post(f"/api/payment-batches/{first['id']}/confirmation", files={
        "file": ("a.csv", f"付款流水号,状态,失败原因\n{line},失败,账户已销户\n".encode())})
    assert failed.json()["results"][0] == {"row": 2, "payment_id": str(line),
                                           "result": "failed", "reason": "账户已销户"}
    second = client.post("/api/payment-batches")
    assert second.status_code == 201 and len(second.json()["lines"]) == 1
    assert client.post("/api/payment-batches").status_code == 409  # nothing left to gather
    # the columns the batch page names: the third holds why a payment failed
    again = second.json()["lines"][0]["id"]
    client.post(f"/api/payment-batches/{second.json()['id']}/bank-file")
    answer = client.post(f"/api/payment-batches/{second.json()['id']}/confirmation", files={
        "file": ("b.csv", f"payment_id,status,reference\n{again},failed,卡号有误\n".encode())})
    assert answer.json()["results"][0]["reason"] == "卡号有误"
    session.expire_all()
    assert session.get(Claim, claim.id).state == "payment_pending"


def test_a_payment_the_bank_sends_back_is_owed_again_and_no_longer_counted(
        staff, client, session, claim):
    """退汇: a line the bank confirmed paid, then sent back (the account closed). Before, it
    could not be recorded: the claim stayed paid, the fund and the household's ledger kept
    the money the household never got. Now the claim waits for payment again, the next batch
    takes it, and the payout no longer counts; the days before still knew it."""
    from policies import benefits
    from policies.models import IncomeRecordVersion
    from risk.models import MonitoringWindow

    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = client.post("/api/payment-batches").json()
    line = batch["lines"][0]["id"]
    client.post(f"/api/payment-batches/{batch['id']}/bank-file")
    client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
        "file": ("a.csv", f"付款流水号,状态\n{line},成功\n".encode())})
    today = clock.county_today()
    assert session.exec(select(MonitoringWindow.opened_on).where(
        MonitoringWindow.household_id == claim.household_id)).all() == [today]
    assert benefits.payouts_paid(session, claim.contract_id, today) == Decimal("7500.00")

    back = [client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
        "file": ("b.csv", f"付款流水号,状态,失败原因\n{line},退汇,账户已销户\n".encode())}
    ).json()["results"][0] for _ in range(2)]

    assert [(r["result"], r["reason"]) for r in back] == [
        ("returned", "账户已销户"), ("already_returned", "")]
    session.expire_all()
    owed = session.get(Claim, claim.id)
    assert (owed.state, owed.paid_amount) == ("payment_pending", Decimal("0.00"))
    assert benefits.payouts_paid(session, claim.contract_id, today) == Decimal("0.00")
    payout = session.exec(select(IncomeRecord).where(
        IncomeRecord.household_id == claim.household_id,
        IncomeRecord.source == "payout")).one()
    assert payout.transfer_poverty_insurance == Decimal("0.00") and payout.revised_at
    assert session.exec(select(IncomeRecordVersion.transfer_poverty_insurance).where(
        IncomeRecordVersion.income_record_id == payout.id)).all() == [Decimal("7500.00")]
    assert client.get(f"/api/payment-batches/{batch['id']}").json()["paid_amount"] == "0.00"
    returned = session.exec(select(AuditEntry).where(
        AuditEntry.entity == "payment", AuditEntry.action == "returned")).all()
    assert len(returned) == 1  # and it says the monitoring window it opened went with it
    assert returned[0].after["monitoring_window_removed"] == today.isoformat()
    # nor is the household watched for a payment it never got (a browser walk's was, and
    # was counted among the households paid)
    assert session.exec(select(MonitoringWindow).where(
        MonitoringWindow.household_id == claim.household_id)).all() == []
    # the next batch sends it again; a line sent back before it was confirmed paid failed
    again = client.post("/api/payment-batches").json()
    assert [(p["claim_number"], p["amount"]) for p in again["lines"]] == [
        (owed.claim_number, "7500.00")]
    client.post(f"/api/payment-batches/{again['id']}/bank-file")
    failed = client.post(f"/api/payment-batches/{again['id']}/confirmation", files={
        "file": ("c.csv", f"付款流水号,状态,失败原因\n{again['lines'][0]['id']},退汇,户名不符\n"
                 .encode())}).json()["results"][0]
    assert (failed["result"], failed["reason"]) == ("failed", "户名不符")


def test_a_payment_sent_back_after_the_supplement_was_refused_is_paid_again(
        staff, client, department, session, claim):
    """A hostile tester's paid claim was reopened by a new bill, the supplement rejected,
    then the bank sent the first payment back: the claim stayed rejected with 50,000
    approved and nothing paid, and no batch would take it."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = export_batch(client)
    bank_confirms(client, batch)
    a_new_bill(department, session, "HIS-9")
    session.expire_all()
    assert session.get(Claim, claim.id).state == "reopened"
    refused = act(staff["adjudicator"], claim, "reject", {"code": "other", "text": "补充不予支持"})
    assert refused.json()["state"] == "paid"  # the supplement is refused, not the claim
    line = batch["lines"][0]["id"]
    client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
        "file": ("b.csv", f"付款流水号,状态,失败原因\n{line},退汇,账户已销户\n".encode())})
    session.expire_all()
    owed = session.get(Claim, claim.id)
    assert (owed.state, owed.approved_amount, owed.paid_amount, owed.rejection_code) == (
        "payment_pending", Decimal("7500.00"), Decimal("0.00"), None)
    again = client.post("/api/payment-batches").json()
    assert [(p["claim_number"], p["amount"]) for p in again["lines"]] == [
        (owed.claim_number, "7500.00")]


def test_a_payment_sent_back_while_reopened_is_still_owed_when_the_supplement_is_refused(
        staff, client, department, session, claim):
    """The other order of the case above: the bank sent the payment back while the claim was
    reopened, then the supplement was rejected; the rejection had set what was approved to
    what was paid, nothing, and the 30,000 was lost (a tester's)."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = export_batch(client)
    bank_confirms(client, batch)
    a_new_bill(department, session, "HIS-10")
    line = batch["lines"][0]["id"]
    client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
        "file": ("b.csv", f"付款流水号,状态,失败原因\n{line},退汇,账户已销户\n".encode())})
    session.expire_all()
    assert session.get(Claim, claim.id).state == "reopened"
    refused = act(staff["adjudicator"], claim, "reject", {"code": "other", "text": "补充不予支持"})
    assert refused.json()["state"] == "payment_pending", refused.text
    session.expire_all()
    owed = session.get(Claim, claim.id)
    assert (owed.approved_amount, owed.paid_amount) == (Decimal("7500.00"), Decimal("0.00"))
    again = client.post("/api/payment-batches").json()
    assert [(p["claim_number"], p["amount"]) for p in again["lines"]] == [
        (owed.claim_number, "7500.00")]


def test_the_banks_amount_is_checked_under_every_heading_a_bank_gives_it(
        staff, client, session, claim):
    """A hostile tester's bank answer headed its amount 实付金额（元）: the column was ignored
    and a line the bank paid 1.00 was recorded paid 7,500. Such headings are read as the
    amount; one that looks like an amount but is not known refuses the file."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = client.post("/api/payment-batches").json()
    line = batch["lines"][0]["id"]
    client.post(f"/api/payment-batches/{batch['id']}/bank-file")

    def answer(heading: str):
        return client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
            "file": ("a.csv", f"付款流水号,状态,{heading}\n{line},成功,1.00\n".encode("gbk"))})

    known = answer("实付金额（元）")
    assert known.status_code == 200 and known.json()["results"][0]["result"] == "error"
    unknown = answer("本次付款金额合计")
    assert unknown.status_code == 422 and unknown.json()["code"] == "amount_column"
    assert "本次付款金额合计" in unknown.json()["value"]
    # a bank's 付款额 (no 金额 in it) is read as the amount too; 本次发生额合计 refused; a
    # balance is no amount paid (a hostile tester's 付款额 1.00 was recorded paid 1,000)
    for heading in ("付款额", "交易额（元）", "金額", "交易金額(元)"):  # traditional too
        read = answer(heading)
        assert read.status_code == 200 and read.json()["results"][0]["result"] == "error"
    assert answer("本次发生额合计").json()["code"] == "amount_column"
    assert answer("Txn Amt").json()["code"] == "amount_column"
    assert answer("人民币(元)").json()["code"] == "amount_column"  # a unit alone
    session.expire_all()
    assert session.get(Claim, claim.id).paid_amount == Decimal("0.00")


def test_a_payment_answered_twice_with_two_references_is_not_taken_as_paid_again(
        staff, client, session, claim):
    """A hostile tester's bank answer paid line 1 as BANKREF1 and again as BANKREF2: the
    second read as "already paid", its reference dropped unseen. A payment answered twice in
    a file, or paid again under another reference, is an error of the line."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = export_batch(client)
    line = batch["lines"][0]["id"]

    def answer(rows: str):
        return client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
            "file": ("a.csv", f"付款流水号,状态,银行流水号\n{rows}".encode())}).json()["results"]

    first = answer(f"{line},成功,BANKREF1\n{line},成功,BANKREF2\n")
    assert [r["result"] for r in first] == ["paid", "error"]
    assert "line 2 of the file" in first[1]["reason"]
    again = answer(f"{line},成功,BANKREF3\n")
    assert again[0]["result"] == "error" and "BANKREF1" in again[0]["reason"]
    assert answer(f"{line},成功,BANKREF1\n")[0]["result"] == "already_paid"
    session.expire_all()
    assert session.get(Claim, claim.id).paid_amount == Decimal("7500.00")


def test_the_claims_trail_shows_each_payment_bill_and_return_as_a_change(
        staff, client, department, session, claim):
    """A tester's auditor read a payment's step with the amount paid already paid before it,
    a reopening with the new entitlement before it, and a payment the bank sent back while
    the claim was reopened nowhere on the claim. Each is on the claim's trail, before and
    after."""
    def trail(action):
        return [(e.before, e.after) for e in session.exec(select(AuditEntry).where(
            AuditEntry.entity == "claim", AuditEntry.entity_id == claim.claim_number,
            AuditEntry.action == action).order_by(AuditEntry.id))]

    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = export_batch(client)
    bank_confirms(client, batch)
    (before, after), = trail("mark_paid")
    assert (before["paid_amount"], after["paid_amount"]) == ("0.00", "7500.00")
    a_new_bill(department, session, "HIS-2")
    (before, after), = trail("reopen")
    assert (before["entitled"], after["entitled"]) == ("7500.00", "12500.00")
    line = batch["lines"][0]["id"]
    client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
        "file": ("b.csv", f"付款流水号,状态,失败原因\n{line},退汇,户名不符\n".encode())})
    (before, after), = trail("payment_returned")
    assert (before["paid_amount"], after["paid_amount"]) == ("7500.00", "0.00")
    assert after["state"] == "reopened"


def test_overdue_claims_are_listed_and_reported(client, claim):
    later = (clock.county_today() + timedelta(days=30)).isoformat()
    overdue = client.get("/api/claims", params={"overdue": True, "today": later}).json()
    assert overdue["count"] == 1 and overdue["data"][0]["state"] == "opened"
    assert client.get("/api/claims", params={"overdue": True}).json()["count"] == 0
    report = client.get("/api/reports/claims", params={"by": "state"}).json()
    assert report["rows"] == [{"group": "opened", "claims": 1, "overdue": 0,
                               "entitled": "7500.00", "approved": "0.00", "paid": "0.00"}]
    xlsx = client.get("/api/reports/claims", params={"by": "township", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_an_altered_audit_entry_is_found(client, session, claim):
    assert client.get("/api/audit/verify").json()["intact"] is True
    session.execute(sa.update(AuditEntry).where(AuditEntry.id == 2).values(reason="改过"))
    session.commit()
    result = client.get("/api/audit/verify").json()
    assert result["intact"] is False and result["first_bad"] == 2


def test_an_application_is_taken_by_the_contract_of_the_day_of_its_loss(
        as_user, county, session):
    """An application took the contract of the day it was filed: a fire of 28 December
    applied for on 1 January was refused, or put in the new year (a tester's)."""
    from claims.models import PolicyContract
    from policies import benefits
    from policies.models import PolicyContractCreate, PolicyContractUpdate
    from tests.claims.conftest import START, TERMS

    year = (START - timedelta(days=365)).year
    version, _ = benefits.store_terms(session, "demo-before", TERMS.replace("2026", str(year)))
    before = registry.create_contract(session, PolicyContractCreate(
        contract_number="FPB-BEFORE", county_id=county.ids["county"], insurer="演示保险",
        policy_year=year, start_date=START - timedelta(days=365),
        end_date=START - timedelta(days=1), premium_per_person=Decimal("50"),
        insured_headcount=10000, insurer_fee_rate=Decimal("0.15")))
    registry.update_contract(session, before.id, PolicyContractUpdate(status="active"))
    benefits.attach_terms(session, before.id, version.id)
    session.commit()
    clerk = as_user("clerk")

    def applied(loss_date):
        return clerk.post("/api/applications", json={
            "household_id": county.household.id, "trigger": "disaster",
            "reason": "村委会申报：房屋失火", "loss_date": str(loss_date)})

    old = applied(START - timedelta(days=3))
    assert old.status_code == 201, old.text
    assert old.json()["contract_id"] == before.id
    assert old.json()["policy_year"] == before.policy_year
    assert applied(START + timedelta(days=1)).json()["contract_id"] == county.contract.id
    future = applied(clock.county_today() + timedelta(days=1))
    assert future.status_code == 422 and future.json()["field"] == "loss_date"
    session.get(PolicyContract, before.id).status = "closed"
    session.commit()
    settled = clerk.post("/api/applications", json={
        "household_id": county.household.id, "trigger": "illness", "reason": "看病",
        "loss_date": str(START - timedelta(days=3))})
    assert settled.status_code == 422 and settled.json()["code"] == "not_covered"


def test_an_application_opens_a_claim_without_an_event(as_user, county, session):
    clerk = as_user("clerk")
    response = clerk.post("/api/applications", json={
        "household_id": county.household.id, "trigger": "disaster",
        "reason": "村委会申报：房屋因暴雨倒塌"})
    assert response.status_code == 201, response.text
    assert response.json()["source"] == "application"
    again = clerk.post("/api/applications", json={
        "household_id": county.household.id, "trigger": "disaster", "reason": "再次"})
    assert again.status_code == 409
    assert again.json()["code"] == "already_claimed" and again.json()["field"] == "trigger"
    uncovered = clerk.post("/api/applications", json={
        "household_id": county.household.id, "trigger": "lottery", "reason": "中奖"})
    assert uncovered.status_code == 422
    assert uncovered.json()["code"] == "trigger_not_covered"
    assert uncovered.json()["field"] == "trigger"
    missing = clerk.post("/api/applications", json={
        "household_id": 999_999_999, "trigger": "disaster", "reason": "无此户"})
    assert missing.status_code == 422
    assert (missing.json()["code"], missing.json()["field"]) == ("no_household", "household_id")
    # a clerk of another township is answered as for a missing household: no hint it exists
    other = registry.create_region(session, RegionCreate(
        code="411081199", name="别镇", level="township", parent_id=county.ids["county"]))
    limited = as_user("clerk")
    limited.user.townships = [other.id]
    session.add(limited.user)
    session.commit()
    outside = limited.post("/api/applications", json={
        "household_id": county.household.id, "trigger": "housing", "reason": "房屋"})
    assert outside.status_code == 422
    assert (outside.json()["code"], outside.json()["field"]) == ("no_household", "household_id")


def test_a_bill_arriving_while_payment_is_under_way_reopens_after_payment(
        staff, client, department, session, claim):
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = export_batch(client)
    a_new_bill(department, session, "HIS-3")
    bank_confirms(client, batch)
    session.expire_all()
    after = session.get(Claim, claim.id)
    assert (after.state, after.paid_amount, after.entitled) == (
        "reopened", Decimal("7500.00"), Decimal("12500.00"))



def test_a_second_approval_confirms_the_first_and_a_bill_after_it_waits_for_payment(
        staff, client, department, session, claim):
    """A bill arriving while a claim waits for its supervisor raises the amount owed, but
    the supervisor confirms what the first approval gave, no more: a hostile tester's
    supervisor confirmed 15,000 as 27,000, 12,000 approved by one person and never shown to
    the village (and 6,000 as 90,000 with no bill at all). The rest is approved after payment,
    when the claim reopens for it."""
    to_approval(staff, claim, session)
    first = act(staff["adjudicator"], claim, "approve", {"amount": "7500.00"})
    assert first.json()["state"] == "approval"  # above the adjudicator's 5,000
    a_new_bill(department, session, "HIS-4")
    above = act(staff["supervisor"], claim, "approve", {"amount": "12500.00"})
    assert above.status_code == 422
    assert (above.json()["code"], above.json()["field"]) == ("above_first_approval", "amount")
    assert "7500.00" in above.json()["message"]
    second = act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    assert second.json()["state"] == "payment_pending"
    bank_confirms(client, export_batch(client))
    session.expire_all()
    after = session.get(Claim, claim.id)
    assert (after.state, after.paid_amount, after.entitled) == (
        "reopened", Decimal("7500.00"), Decimal("12500.00"))


def test_a_second_approval_may_reduce_the_first(staff, client, session, claim):
    to_approval(staff, claim, session)
    act(staff["adjudicator"], claim, "approve", {"amount": "7500.00"})
    reduced = act(staff["supervisor"], claim, "approve", {"amount": "6000.00", "note": "核减"})
    assert reduced.json()["state"] == "payment_pending"
    assert reduced.json()["approved_amount"] == "6000.00"


def test_a_reduced_award_closes_as_paid(staff, client, session, claim):
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "6000.00", "note": "资产核查后核减"})
    bank_confirms(client, export_batch(client))
    session.expire_all()
    assert session.get(Claim, claim.id).state == "paid"


def test_a_new_amount_during_the_public_notice_starts_the_notice_again(
        staff, department, session, claim):
    act(staff["investigator"], claim, "start_investigation")
    act(staff["investigator"], claim, "submit_survey", SURVEY)
    act(staff["clerk"], claim, "record_review", {"outcome": "agree", "representatives": ["甲"]})
    days_pass(session, claim, 8)
    act(staff["clerk"], claim, "start_notice",
        {"start_date": (clock.county_today() - timedelta(days=7)).isoformat()})
    a_new_bill(department, session, "HIS-4")
    early = act(staff["clerk"], claim, "close_notice")
    assert early.status_code == 409 and "can be closed from" in early.json()["message"]
    session.expire_all()
    # due the day the restarted notice may be closed (a day later had been given)
    assert session.get(Claim, claim.id).due_date == clock.county_today() + timedelta(days=7)

    # nor can the restarted notice be moved back to its first start and closed at once (a
    # hostile tester's way round both the restart and the seven days)
    back = act(staff["clerk"], claim, "start_notice",
               {"start_date": (clock.county_today() - timedelta(days=7)).isoformat()})
    assert back.status_code == 422 and back.json()["code"] == "notice_running_since"
    assert act(staff["clerk"], claim, "close_notice").status_code == 409
    assert act(staff["clerk"], claim, "start_notice", {
        "start_date": clock.county_today().isoformat()}).status_code == 200


def test_a_new_amount_before_any_approval_is_shown_to_the_village_first(
        staff, department, session, claim):
    """A hostile tester's claim passed its notice at 27,000, a bill raised it to 52,000 while
    it waited for approval, and 52,000 was approved without the village seeing it."""
    to_approval(staff, claim, session)
    a_new_bill(department, session, "HIS-5")
    session.expire_all()
    noticed = session.get(Claim, claim.id)
    assert noticed.state == "public_notice" and noticed.entitled > Decimal("7500.00")
    assert noticed.due_date == clock.county_today() + timedelta(days=7)  # as a restarted one
    assert act(staff["supervisor"], claim, "approve", {"amount": "1.00"}).status_code == 409
    early = act(staff["clerk"], claim, "close_notice")
    assert early.status_code == 409 and early.json()["code"] == "notice_running"


def test_the_notice_starts_on_the_countys_date_of_the_review(staff, claim, session):
    """A review recorded at 01:00 in Beijing (17:00 UTC the day before) is that morning's
    review: the notice's default start and its earliest start are the county's date."""
    act(staff["investigator"], claim, "start_investigation")
    act(staff["investigator"], claim, "submit_survey", SURVEY)
    act(staff["clerk"], claim, "record_review", {"outcome": "agree", "representatives": ["甲"]})
    review = session.exec(select(ClaimRecord).where(
        ClaimRecord.claim_id == claim.id, ClaimRecord.kind == "record_review")).one()
    county_day = clock.county_today() - timedelta(days=3)
    review.created_at = datetime.combine(county_day - timedelta(days=1), time(17, 0),
                                         tzinfo=UTC)
    session.commit()

    assert lifecycle.notice_start(session, claim) == county_day
    before = act(staff["clerk"], claim, "start_notice",
                 {"start_date": str(county_day - timedelta(days=1))})
    assert before.status_code == 422 and before.json()["field"] == "start_date"
    assert act(staff["clerk"], claim, "start_notice",
               {"start_date": str(county_day)}).status_code == 200


def test_a_contract_is_not_settled_while_its_money_is_still_moving(
        staff, client, session, claim):
    """A hostile tester settled a contract with two approved lines at the bank, which were
    paid after it: the fund's balance no longer matched what the settlement carried over."""
    def settle():
        return client.post(f"/api/contracts/{claim.contract_id}/settlement", json={})

    refused = settle()  # the claim is open
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["field"]) == ("claims_open", "claims")
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = export_batch(client)
    at_bank = settle()  # the line waits for the bank
    assert at_bank.json()["code"] == "claims_open"
    assert "1 payment lines wait" in at_bank.json()["message"]
    bank_confirms(client, batch)
    # paid: nothing holds the settlement back but the policy year itself
    assert settle().json().get("code") != "claims_open"


def test_a_settled_contracts_claims_are_not_approved(staff, session, claim):
    """Settled, a contract's fund is closed: an approval afterwards was paid outside it (a
    hostile tester's supervisor approved a claim of a closed contract)."""
    to_approval(staff, claim, session)
    contract = session.get(PolicyContract, claim.contract_id)
    contract.status = "closed"  # as a settlement before this check left such claims
    session.commit()
    refused = act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["field"]) == ("contract_closed", "contract")
    session.expire_all()
    assert session.get(Claim, claim.id).state == "approval"
    # nor reconsidered once rejected: it could never be approved (a re-tester's)
    act(staff["supervisor"], claim, "reject", {"code": "other", "text": "材料不全"})
    again = act(staff["supervisor"], claim, "reconsider", {"reason": "补齐材料"})
    assert again.status_code == 409 and again.json()["code"] == "contract_closed"


def test_a_contract_with_money_moving_is_not_closed_by_hand(client, claim):
    """PATCH to closed bypassed the settlement's check, leaving a claim open on a closed
    contract that no one could approve (a re-tester's)."""
    closed = client.patch(f"/api/contracts/{claim.contract_id}", json={"status": "closed"})
    assert closed.status_code == 409 and closed.json()["code"] == "claims_open"


def test_the_bank_file_is_named_by_its_batch_in_chinese(staff, client, session, claim):
    """The bank's file was batch-1.csv with a sheet called "bank file" (a tester's): it is
    named by the batch's number, its sheet in Chinese."""
    import io

    from openpyxl import load_workbook

    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = client.post("/api/payment-batches").json()
    made = client.post(f"/api/payment-batches/{batch['id']}/bank-file",
                       params={"format": "xlsx"})
    assert made.headers["content-disposition"] == (
        f'attachment; filename="{batch["batch_number"]}.xlsx"')
    assert load_workbook(io.BytesIO(made.content)).sheetnames == ["付款清单"]
