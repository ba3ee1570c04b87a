"""A county's past shocks (历史风险事件导入): illnesses, disabilities, disasters, accidents …
of its households from the monitoring system's records, into the shock ledger the risk
features read (source ``imported``).

One row a shock: the household (and the member, by ID number, if known), the kind, the day
it happened and the day the office learnt of it, and the household's own burden — given, or
computed from the trigger amounts of its kind exactly as for a trigger event
(:func:`risk.shocks.burden`). Every bad value is reported with its row, field, value and
reason; nothing is written unless the whole file is valid (or ``partial``); importing the
same file again changes nothing. A shock the claims engine already recorded from a trigger
event is refused, so no shock counts twice.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from policies.annual_import import Checks, HistoryReport
from policies.bulk import insert_columns
from policies.event_files import AMOUNT_HEADERS, TYPE_LABELS
from policies.models import Member
from policies.tables import RowError, normalise_header, read_table
from policies.terms import BUILTIN_EVENT_TYPES
from risk import shocks
from risk.models import SHOCK_IMPORTED, Shock

SOURCE = SHOCK_IMPORTED
# The risk types of the monitoring system's records (风险类型), beside the event files' own.
KINDS = {**{kind: kind for kind in BUILTIN_EVENT_TYPES}, **TYPE_LABELS,
         "因意外事故": "accident", "意外事故": "accident", "因产业项目失败": "industry",
         "因务工就业不稳": "employment", "住房出现安全问题": "housing", "疾病": "illness",
         "残疾": "disability", "自然灾害": "disaster", "灾害": "disaster"}
AMOUNTS = sorted({a for kind in BUILTIN_EVENT_TYPES.values() for a in kind["amounts"]})
HEADERS: dict[str, tuple[str, ...]] = {
    "household_number": ("户编号", "户编码", "household_number"),
    "id_number": ("证件号码", "身份证号码", "id_number"),
    "kind": ("风险类型", "风险事件类型", "事件类型", "kind", "type"),
    "occurred_on": ("发生日期", "事件日期", "occurred_on", "event_date"),
    "known_on": ("登记日期", "录入日期", "知悉日期", "known_on"),
    "burden": ("自付负担", "家庭自付", "家庭负担", "burden"),
    "disability_grade": ("残疾等级", "disability_grade", "grade"),
    "reference": ("事件编号", "业务流水号", "reference"),
    **{name: (name, *((AMOUNT_HEADERS[name],) if name in AMOUNT_HEADERS else ()))
       for name in AMOUNTS},
}
ALIASES = {normalise_header(s): f for f, spellings in HEADERS.items() for s in spellings}
REQUIRED: list[tuple[str, ...]] = [("household_number",), ("kind",), ("occurred_on",)]
FIRST_DAY = date(2000, 1, 1)
# Without a recorded day a shock counts as known this many days after it happened: never
# earlier than the office could have known it.
DEFAULT_LAG_DAYS = 30
GRADES = {"1": 1, "2": 2, "3": 3, "4": 4, "一级": 1, "二级": 2, "三级": 3, "四级": 4}


def import_shocks(session: Session, data: bytes, filename: str, today: date, *,
                  partial: bool = False, lag_days: int = DEFAULT_LAG_DAYS) -> HistoryReport:
    """Validate a file of past shocks and, if valid (or ``partial``), add them to the shock
    ledger; flushes only."""
    # a misspelt amount heading would change the burden the score reads: refused, as on
    # the event files
    table = read_table(data, filename, ALIASES, REQUIRED, refuse_unknown=True)
    frame = table.frame
    report = HistoryReport(rows=len(frame), encoding=table.encoding,
                           ignored_columns=table.ignored_columns)
    check = Checks(frame)
    households = check.households(session)
    members = _members(session, frame, households, check)
    kinds = frame["kind"].map(lambda k: KINDS.get(k, KINDS.get(k.lower())))
    check.flag(frame["kind"] == "", "kind", "required")
    check.flag((frame["kind"] != "") & kinds.isna(), "kind", "not_one_of",
               {"accepted": "、".join(sorted(set(KINDS) - set(BUILTIN_EVENT_TYPES)))})
    occurred = check.day("occurred_on", today, required=True)
    check.flag(occurred.map(lambda d: d is not None and d < FIRST_DAY), "occurred_on",
               "before_day", {"day": str(FIRST_DAY)})
    known = check.day("known_on", today, required=False)
    check.flag(pd.Series([k is not None and o is not None and k < o
                          for k, o in zip(known, occurred, strict=True)], index=frame.index),
               "known_on", "before_shock")
    given = check.amount("burden", required=False).where(
        frame["burden"] != "", None) if "burden" in frame else check.nothing()
    amounts = {name: check.amount(name, required=False) for name in AMOUNTS if name in frame}
    grades = _grades(frame, kinds, check)
    references = frame["reference"] if "reference" in frame else pd.Series(
        "", index=frame.index)
    check.flag(references.str.len() > 64, "reference", "too_long", {"limit": "64"})
    check.text_faults(references, "reference")
    check.repeated([households, kinds, occurred, references], "occurred_on", "same_shock")

    bad = {e.row for e in check.errors}
    cell = {name: values.to_dict() for name, values in (
        ("household_id", households), ("member_id", members), ("kind", kinds),
        ("occurred_on", occurred), ("known_on", known), ("burden", given),
        ("disability_grade", grades), ("reference", references), *amounts.items())}
    rows = []
    for row in frame.index:
        if row in bad:
            continue
        kind, day = cell["kind"][row], cell["occurred_on"][row]
        burden = cell["burden"][row]
        if burden is None:
            burden = shocks.burden(kind, {name: cell[name][row] for name in amounts})
        rows.append({"row": row, "household_id": int(cell["household_id"][row]),
                     "member_id": cell["member_id"][row], "kind": kind, "occurred_on": day,
                     "known_on": cell["known_on"][row] or min(day + timedelta(days=lag_days),
                                                              today),
                     "burden": burden, "disability_grade": cell["disability_grade"][row],
                     "reference": cell["reference"][row]})
    writes = _against_ledger(session, rows, check)
    report.errors = sorted(check.errors, key=lambda e: (e.row, e.field))
    if report.errors and not partial:
        return report
    bad = {e.row for e in report.errors}
    report.skipped = len(bad)
    report.unchanged = len(rows) - len(writes) - len(bad & {r["row"] for r in rows})
    writes = [r for r in writes if r["row"] not in bad]
    if writes:
        insert_columns(session, Shock.__table__, {
            **{name: [r[name] for r in writes] for name in (
                "household_id", "member_id", "kind", "occurred_on", "known_on", "burden",
                "disability_grade", "reference")},
            "source": [SOURCE] * len(writes)})
    report.created = len(writes)
    report.written = True
    return report


def _members(session: Session, frame: pd.DataFrame, households: pd.Series, check: Checks
             ) -> pd.Series:
    """The member of each row's ID number, who must belong to the row's household."""
    if "id_number" not in frame:
        return check.nothing()
    numbers = frame["id_number"].str.upper()
    wanted = sorted(set(numbers) - {""})
    found: dict[str, tuple[int, int]] = {}
    table = Member.__table__
    for start in range(0, len(wanted), 5000):
        found.update((n, (i, h)) for n, i, h in session.execute(sa.select(
            table.c.id_number, table.c.id, table.c.household_id).where(
            table.c.id_number.in_(wanted[start:start + 5000]))))
    member = pd.Series([found[n][0] if n in found else None for n in numbers],
                       index=frame.index, dtype=object)
    home = numbers.map(lambda n: found[n][1] if n in found else -1)
    check.flag((numbers != "") & member.isna(), "id_number", "unknown_member")
    check.flag(member.notna() & households.notna() & (home != households), "id_number",
               "member_elsewhere")
    return member


def _grades(frame: pd.DataFrame, kinds: pd.Series, check: Checks) -> pd.Series:
    if "disability_grade" not in frame:
        return check.nothing()
    text = frame["disability_grade"]
    grades = pd.Series([GRADES.get(t) for t in text], index=frame.index, dtype=object)
    check.flag((text != "") & grades.isna(), "disability_grade", "grade")
    check.flag((text != "") & grades.notna() & (kinds != "disability"), "disability_grade",
               "grade_not_disability")
    return grades


def _against_ledger(session: Session, rows: list[dict], check: Checks) -> list[dict]:
    """Rows whose shock the ledger has: imported before with the same figures, unchanged;
    with others, or recorded from a trigger event, an error."""
    table = Shock.__table__
    ids = sorted({r["household_id"] for r in rows})
    stored: dict[tuple, list] = {}
    for start in range(0, len(ids), 5000):
        for shock in session.execute(sa.select(table).where(
                table.c.household_id.in_(ids[start:start + 5000]),
                table.c.source.in_((SOURCE, "event")))):
            stored.setdefault((shock.household_id, shock.kind, shock.occurred_on),
                              []).append(shock)
    writes = []
    for r in rows:
        same_day = stored.get((r["household_id"], r["kind"], r["occurred_on"]), [])
        event = next((s for s in same_day if s.source == "event"), None)
        mine = next((s for s in same_day
                     if s.source == SOURCE and s.reference == r["reference"]), None)
        if event is not None:
            check.errors.append(RowError(r["row"], "occurred_on", str(r["occurred_on"]),
                                         "shock_from_event",
                                         {"kind": r["kind"], "event": str(event.reference)}))
        elif mine is None:
            writes.append(r)
        elif (Decimal(mine.burden), mine.known_on, mine.member_id, mine.disability_grade) != (
                r["burden"], r["known_on"], r["member_id"], r["disability_grade"]):
            check.errors.append(RowError(r["row"], "occurred_on", str(r["occurred_on"]),
                                         "shock_differs", {"shock": str(mine.id)}))
    return writes
