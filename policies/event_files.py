"""Department event files (CSV or XLSX) with Chinese or English headers, read into the
event schema of the intake API: fixed columns, and amounts and details by their names."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pydantic import ValidationError

from policies.benefits import QuoteFile
from policies.errors import InvalidInput
from policies.income_import import day_of
from policies.tables import ROW_PROBLEMS, normalise_header, read_table, typed_number
from policies.terms import BUILTIN_EVENT_TYPES

FIXED = {
    "event_id": ("事件编号", "业务流水号", "event_id"),
    "type": ("事件类型", "type"),
    "event_date": ("事件日期", "发生日期", "event_date"),
    "id_number": ("证件号码", "身份证号码", "id_number"),
}
AMOUNT_HEADERS = {
    "total_cost": "医疗总费用", "basic_insurance_paid": "基本医保支付",
    "critical_illness_paid": "大病保险支付", "medical_assistance_paid": "医疗救助支付",
    "other_insurance_paid": "其他保险支付", "assessed_loss": "核定损失",
    "relief_paid": "救灾救助", "insurance_paid": "保险赔付", "cost": "费用",
    "compensation_paid": "赔偿金额", "tuition_cost": "学费", "living_cost": "生活费",
    "aid_received": "资助金额", "repair_cost": "修缮费用", "subsidy_received": "补助金额",
    "lost_income": "损失收入", "unemployment_benefit": "失业金", "loss": "损失",
}
DETAIL_HEADERS = {
    "hospital": "医院", "diagnosis": "诊断", "admission_date": "入院日期",
    "discharge_date": "出院日期", "grade": "残疾等级", "disability_type": "残疾类别",
    "certificate_number": "残疾证号", "kind": "类别", "house_damage": "房屋受损",
    "outcome": "伤亡情况", "stage": "学段", "school": "学校",
    "catastrophe_reference": "灾害事件编号",
}
TYPE_LABELS = {"因病": "illness", "因残": "disability", "因灾": "disaster", "意外": "accident",
               "因意外": "accident", "因学": "education", "住房": "housing",
               "因就业": "employment", "因产业": "industry"}


def _aliases() -> dict[str, str]:
    table = {}
    for field, spellings in FIXED.items():
        for spelling in spellings:
            table[normalise_header(spelling)] = field
    amounts = {a for kind in BUILTIN_EVENT_TYPES.values() for a in kind["amounts"]}
    details = {d for kind in BUILTIN_EVENT_TYPES.values() for d in kind["details"]}
    for name in amounts:
        table[normalise_header(name)] = f"amount:{name}"
        if name in AMOUNT_HEADERS:
            table[normalise_header(AMOUNT_HEADERS[name])] = f"amount:{name}"
    for name in details:
        table[normalise_header(name)] = f"detail:{name}"
        if name in DETAIL_HEADERS:
            table[normalise_header(DETAIL_HEADERS[name])] = f"detail:{name}"
    return table


ALIASES = _aliases()


# The days of an event file: read as every import reads a day (2026/11/25, 20261125, a date
# cell Excel saved), passed on as 2026-11-25. Before, only that form was taken, and nearly
# every department's file saved from Excel was refused.
DAYS = ("event_date", "detail:admission_date", "detail:discharge_date")


def _iso_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def read_events(data: bytes, filename: str) -> tuple[list[dict[str, Any]], list[dict]]:
    """Rows as event payloads; empty cells are left out. An amount is read as people type it
    into a file (policies.tables.typed_number: full-width digits, a thousands comma) and
    passed on as plain decimal text, a day as every import reads one (DAYS); a row with an
    amount or a day that is not one is that row's error. Returns (events, row errors)."""
    table = read_table(data, filename, ALIASES, [(f,) for f in FIXED], refuse_unknown=True)
    events, errors = [], []
    for row, line in table.frame.iterrows():
        event: dict[str, Any] = {"amounts": {}, "details": {}}
        bad: list[tuple[str, str, str]] = []  # (column, value, problem)
        for column, value in line.items():
            if value == "":
                continue
            if column in DAYS:
                day = day_of(value)
                if not isinstance(day, str):
                    value = day.isoformat()
                elif not _iso_day(value):  # a day out of range is the intake's to refuse
                    bad.append((column, value, ROW_PROBLEMS[day]))
                    continue
            if column.startswith("amount:"):
                amount = typed_number(value)
                if amount is None:
                    bad.append((f"amounts.{column[7:]}", value, ROW_PROBLEMS["amount"]))
                else:
                    event["amounts"][column[7:]] = str(amount)
            elif column.startswith("detail:"):
                event["details"][column[7:]] = value
            elif column == "type":
                event["type"] = TYPE_LABELS.get(value, value)
            else:
                event[column] = value
        if "event_id" not in event:
            errors.append({"source_event_id": f"row {row}", "result": "rejected",
                           "field": "event_id", "reason": f"row {row} has no event id"})
            continue
        if bad:  # one rejection a row (an event), naming each bad amount or day
            errors.append({"source_event_id": event["event_id"], "result": "rejected",
                           "field": bad[0][0].replace("detail:", "details."),
                           "reason": f"row {row}: " + "; ".join(
                               f"{name.replace('detail:', 'details.')} = {value!r}: {problem}"
                               for name, value, problem in bad)})
            continue
        events.append(event)
    return events, errors


def read_quote_file(data: bytes, filename: str) -> QuoteFile:
    """A quote's JSON file (a list of events, or an object with household, events and
    prior_payouts), validated strictly: every mistake is named by its place in the file."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{filename}: not UTF-8 JSON: {exc}", field="") from None
    if isinstance(raw, list):
        raw = {"events": raw}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{filename}: give a list of events, or an object with household, "
                           "events and prior_payouts", field="")
    try:
        return QuoteFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            place = ".".join(str(p) for p in error["loc"])
            reason = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                reason = "unknown key (misspelt?)"
            problems.append((place, reason))
        raise InvalidInput("\n".join(f"{filename}: {place or '(top)'}: {reason}"
                                      for place, reason in problems),
                           field=problems[0][0]) from None
