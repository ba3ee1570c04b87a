"""The monitoring pages as the office uses them: households in monitoring, a household's
income chart, alerts, follow-up and elimination through the forms, imports with their
errors, the outcome report and its workbook; who may see and do what. On both databases."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import openpyxl
from sqlmodel import select

from claims import clock, monitoring
from policies import registry
from policies.models import IncomeRecord, IncomeSource, RegionCreate
from risk.models import Elimination, FollowUp
from risk.monitoring import add_months
from tests.claims.test_monitoring import paid_and_fallen, report, steps_back
from tests.claims.test_web import browser, csrf_of  # noqa: F401  (the fixture)


def post(user, path: str, page: str, **fields):
    return user.post(path, data={"csrf_token": csrf_of(page), **fields}, follow_redirects=False)


def test_the_office_follows_a_fall_up_to_elimination_through_the_pages(
        staff, client, session, claim, county, browser):  # noqa: F811
    opened = paid_and_fallen(staff, client, session, claim, county)
    clerk = browser("clerk", language="en")
    listed = clerk.get("/monitoring?show=alerts").text
    assert "H0001" in listed and "below line" in listed and "no helper yet" in listed
    assert "H0001" not in clerk.get("/monitoring?show=proposals").text

    path = f"/monitoring/households/{claim.household_id}"
    page = clerk.get(path).text
    assert "<svg" in page and "5,500.00" in page and "3,000.00" in page  # with and without
    (case,) = session.exec(select(FollowUp)).all()
    assert post(clerk, f"/monitoring/follow-ups/{case.id}/helper", page,
                helper="王帮扶").status_code == 303
    given = post(clerk, f"/monitoring/follow-ups/{case.id}/assistance", page,
                 kind="employment", description="介绍到县城务工",
                 given_on=str(clock.county_today()), amount="-1")
    assert given.status_code == 422 and "Amount — too small" in given.text
    assert post(clerk, f"/monitoring/follow-ups/{case.id}/assistance", page,
                kind="employment", description="介绍到县城务工",
                given_on=str(clock.county_today())).status_code == 303
    assert post(clerk, f"/monitoring/follow-ups/{case.id}/close", page, outcome="assisted",
                note="务工收入恢复").status_code == 303
    page = clerk.get(path).text
    assert "介绍到县城务工" in page and "assisted" in page

    refused = post(clerk, f"{path}/elimination", page, way="natural",
                   eliminated_on=str(add_months(opened, 1)))
    assert refused.status_code == 422 and "below the line" in refused.text
    for months in (3, 6, 7):
        report(staff["clerk"], session, claim.household_id, add_months(opened, months),
               "30000")
    monitoring.evaluate(session, add_months(opened, 7))
    session.commit()
    assert "H0001" in clerk.get("/monitoring?show=proposals").text
    page = clerk.get(path).text
    assert "proposed" in page and "Next: the home check." in page
    assert "Confirm the risk eliminated" not in page  # not before the steps
    steps = f"{path}/elimination/steps"
    assert post(clerk, f"{steps}/home_check", page, visit_date=str(clock.county_today()),
                team="王核实，李核实", findings="务工收入稳定", housing_secure="1",
                schooling_secure="1", medical_secure="1", water_secure="1").status_code == 303
    page = clerk.get(path).text
    assert "Next: the village review." in page
    assert "<dt>Drinking water secure</dt><dd>yes</dd>" in page
    assert post(clerk, f"{steps}/democratic_review", page, outcome="agree",
                representatives="代表甲，代表乙").status_code == 303
    assert post(clerk, f"{steps}/notice", clerk.get(path).text,
                start_date=str(clock.county_today())).status_code == 303
    page = clerk.get(path).text
    assert "The notice is running" in page and "Confirm the risk eliminated" not in page
    refused = post(clerk, f"{path}/elimination", page, way="natural",
                   eliminated_on=str(add_months(opened, 7)))
    assert refused.status_code == 409
    steps_back(session, claim.household_id, 8)  # the review was eight days ago
    assert post(clerk, f"{steps}/notice", page, start_date=str(
        clock.county_today() - timedelta(days=7))).status_code == 303
    page = clerk.get(path).text
    assert "Confirm the risk eliminated" in page
    assert post(clerk, f"{path}/elimination", page, way="natural",
                eliminated_on=str(add_months(opened, 7))).status_code == 303
    assert session.exec(select(Elimination)).one().status == "confirmed"
    assert "eliminated" in clerk.get(path).text

    outcomes = clerk.get("/monitoring/outcomes").text
    assert "All households paid" in outcomes and "<svg" in outcomes
    # the counts' column says they are households, and townships and triggers are apart
    assert "<th class=\"num\">Households paid</th>" in outcomes
    assert outcomes.index("By township") < outcomes.index("By trigger")
    book = clerk.get(f"/monitoring/outcomes.xlsx?year={claim.policy_year}")
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    # the workbook under the page's labels, in the reader's language
    assert [cell.value for cell in sheet[1]][:4] == [
        "Group", "Group name", "Households paid", "6 months: above"]
    assert sheet["A2"].value == "All households paid" and sheet["C2"].value == 1


def test_an_income_report_entered_on_the_page_is_checked(staff, client, session, claim,
                                                         county, browser):  # noqa: F811
    paid_and_fallen(staff, client, session, claim, county)
    clerk = browser("clerk", language="en")
    path = f"/monitoring/households/{claim.household_id}"
    page = clerk.get(path).text
    future = post(clerk, f"{path}/reports", page, period_start=str(clock.county_today()),
                  period_end=str(add_months(clock.county_today(), 1)), wages="1000")
    assert future.status_code == 422 and "after today" in future.text
    entered = post(clerk, f"{path}/reports", page,
                   period_start=str(add_months(clock.county_today(), -3)),
                   period_end=str(clock.county_today()), wages="12000", transfer_dibao="600")
    assert entered.status_code == 303
    assert str(clock.county_today()) in clerk.get(path).text


def test_a_bad_import_writes_nothing_and_names_each_bad_value(staff, client, session, claim,
                                                              county, browser):  # noqa: F811
    clerk = browser("clerk", language="en")
    page = clerk.get("/monitoring").text
    text = "户编号,起始日期,截止日期,工资性收入\nH0001,2026-01-01,not a day,500\n"
    answer = clerk.post("/monitoring/import", data={"csrf_token": csrf_of(page)},
                        files={"file": ("reports.csv", text.encode())})
    assert answer.status_code == 422  # as the API: nothing written is a refusal
    assert "Nothing was written" in answer.text and "not a date" in answer.text



def test_an_income_file_with_an_everyday_heading_is_refused_before_anything_is_written(
        staff, client, session, claim, county, browser):  # noqa: F811
    clerk = browser("clerk")
    page = clerk.get("/monitoring").text
    text = "户编号,起始日期,截止日期,工资收入\nH0001,2026-01-01,2026-03-31,5000\n"
    answer = clerk.post("/monitoring/import", data={"csrf_token": csrf_of(page)},
                        files={"file": ("reports.csv", text.encode())})
    assert answer.status_code == 422, answer.text
    assert "本导入不读取的列：工资收入。" in answer.text  # no word of a column without heading
    no_income = clerk.post("/monitoring/import", data={"csrf_token": csrf_of(page)},
                           files={"file": ("reports.csv", "户编号,起始日期,截止日期,备注\n"
                                           "H0001,2026-01-01,2026-03-31,走访\n".encode())})
    assert no_income.status_code == 422 and "文件缺少列：工资性收入或" in no_income.text
    book = openpyxl.Workbook()
    book.active.append(["户编号", "起始日期", "截止日期", "工资性收入"])
    book.active.append(["H0001", "2026-01-01", "2026-03-31", "=1/0"])
    out = io.BytesIO()
    book.save(out)  # openpyxl saves no result: the wages would have read as empty
    unsaved = clerk.post("/monitoring/import", data={"csrf_token": csrf_of(page)},
                         files={"file": ("reports.xlsx", out.getvalue())})
    assert unsaved.status_code == 422 and "单元格 D2 是公式，但保存时没有计算结果" in unsaved.text
    assert session.exec(select(IncomeRecord).where(
        IncomeRecord.source == IncomeSource.report)).all() == []


def test_who_may_see_and_act_on_monitoring(staff, client, session, claim, county,
                                           browser):  # noqa: F811
    paid_and_fallen(staff, client, session, claim, county)
    path = f"/monitoring/households/{claim.household_id}"
    auditor = browser("auditor")
    page = auditor.get(path).text
    assert "/helper" not in page  # no forms for a role that may not act
    (case,) = session.exec(select(FollowUp)).all()
    assert post(auditor, f"/monitoring/follow-ups/{case.id}/helper", page,
                helper="王帮扶").status_code == 403
    other = registry.create_region(session, RegionCreate(
        code="411081200", name="别的镇", level="township", parent_id=county.ids["county"]))
    session.commit()
    elsewhere = browser("clerk", townships=[other.id])
    assert elsewhere.get(path).status_code == 404
    assert "H0001" not in elsewhere.get("/monitoring").text
    assert elsewhere.get("/monitoring/outcomes").status_code == 403


def test_an_import_knows_only_the_households_of_the_users_townships(
        staff, client, session, claim, county, browser):  # noqa: F811
    other = registry.create_region(session, RegionCreate(
        code="411081300", name="另一个镇", level="township", parent_id=county.ids["county"]))
    session.commit()
    elsewhere = browser("clerk", townships=[other.id], language="en")
    page = elsewhere.get("/monitoring").text
    today = clock.county_today()
    text = f"户编号,起始日期,截止日期,工资性收入\nH0001,{add_months(today, -3)},{today},500\n"
    answer = elsewhere.post("/monitoring/import", data={"csrf_token": csrf_of(page)},
                            files={"file": ("reports.csv", text.encode())})
    assert "Nothing was written" in answer.text
    assert "no household you may report for has this number" in answer.text


def test_the_follow_ups_refusals_read_in_chinese(staff, client, session, claim, county,
                                                 browser):  # noqa: F811
    """Issue 17: a refusal of the office's follow-up read the service's English after the
    rule; coded, it has words of its own."""
    paid_and_fallen(staff, client, session, claim, county)
    clerk = browser("clerk")
    page = clerk.get(f"/monitoring/households/{claim.household_id}").text
    (case,) = session.exec(select(FollowUp)).all()
    early = post(clerk, f"/monitoring/follow-ups/{case.id}/close", page, outcome="assisted",
                 note="务工收入恢复")
    assert early.status_code == 409 and "请先指定帮扶责任人，再结束帮扶。" in early.text
    later = post(clerk, f"/monitoring/follow-ups/{case.id}/assistance", page,
                 kind="employment", description="介绍到县城务工",
                 given_on=str(clock.county_today() + timedelta(days=2)))
    assert later.status_code == 422 and "帮扶日期不能晚于今天。" in later.text
    assert "after today" not in later.text and "helper" not in early.text


def test_an_imports_bad_values_read_in_the_users_language(staff, client, session, claim,
                                                          county, browser):  # noqa: F811
    """Issue 17: the table of bad values named the field by its key and gave the service's
    English reason on the Chinese page."""
    today = clock.county_today()
    start, end = add_months(today, -3), today - timedelta(days=1)
    text = ("户编号,起始日期,截止日期,工资性收入,报告编号\n"
            f"H9999,{start},{end},500,\n"
            f"H0001,{start},not a day,500,\n"
            f"H0001,{end},{start},500,\n"
            f"H0001,{start},{today + timedelta(days=9)},500,\n"
            f"H0001,{start},{end},-5,\n"
            f'H0001,{start},{end},500,"a\tb"\n')
    tables = {}
    for language in ("zh", "en"):
        clerk = browser("clerk", language=language)
        answer = clerk.post("/monitoring/import", data={"csrf_token": csrf_of(
            clerk.get("/monitoring").text)}, files={"file": ("reports.csv", text.encode())})
        assert answer.status_code == 422  # nothing written
        after = answer.text.index("</thead>")  # the first table: the bad values
        table = answer.text[after:answer.text.index("</table>", after)]
        tables[language] = [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(
            r"<td[^>]*>(.*?)</td>", row)] for row in re.findall(r"<tr>(.*?)</tr>", table)]
    assert [row[:2] for row in tables["zh"]] == [
        ["2", "户编号"], ["3", "截止日期"], ["4", "截止日期"], ["5", "截止日期"],
        ["6", "工资性收入"], ["7", "报告编号"]]
    assert [row[1] for row in tables["en"]] == [
        "Household number", "Period end", "Period end", "Period end", "wages",
        "Report reference"]
    zh = {row[0]: row[3] for row in tables["zh"]}
    assert zh["2"] == "您可报告的农户中没有此户编号"
    assert zh["4"] == f"期间截止于 {start}，早于其起始日期（{end}）"
    assert zh["7"] == "须为一行：第 2 个字符是制表符或换行符（U+0009）"
    for row in tables["zh"]:  # no English word left in the Chinese reasons
        assert not re.search(r"[A-Za-z]{2,}", row[3]), row
    for row in tables["en"]:
        assert not re.search(r"[\u4e00-\u9fff]", row[1] + row[3]), row
    # a sign is no part of an amount typed into any import's file (policies.tables.typed_number)
    assert {row[0]: row[3] for row in tables["en"]}["6"].startswith("must be an amount in yuan")
