"""Bulk import of households with their members (农户及家庭成员导入).

The file is the monitoring system's member-level export: one row per member, with the
household's fields repeated on each row. Every row is validated column by column; the report
lists every bad value with its row number, field, value and reason. By default nothing is
written unless the whole file is valid; with ``partial`` the valid households are written and
the households with any bad row are left out whole. Importing the same file twice changes
nothing the second time: households are matched on 户编号 and members on the ID number.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, col

from policies import history
from policies.bulk import insert_columns, lookup, update_columns
from policies.citizen_id import PROVINCE_CODES, check_characters
from policies.errors import InvalidInput
from policies.models import (
    BANK_ACCOUNT,
    HOUSEHOLD_NUMBER,
    PHONE,
    Household,
    HouseholdVersion,
    Member,
    MemberVersion,
    Region,
    utcnow,
)
from policies.tables import (
    FileReport,
    RowError,
    Table,
    normalise_header,
    read_table,
    typed_numbers,
)
from policies.types import text_fault
from policies.vocab import (
    Coded,
    Education,
    Health,
    HouseholdType,
    LabourSkill,
    MemberStatus,
    MonitoringCategory,
    RegionLevel,
    Relation,
    Schooling,
)

HEADERS: dict[str, tuple[str, ...]] = {
    "household_number": ("户编号", "户编码", "household_number", "household_no"),
    "township": ("乡镇", "乡(镇)", "乡镇(街道)", "township"),
    "village": ("行政村", "村", "村名称", "village"),
    "village_code": ("行政村代码", "村代码", "行政区划代码", "village_code"),
    "head_name": ("户主姓名", "head_name"),
    "name": ("姓名", "成员姓名", "name"),
    "id_number": ("证件号码", "身份证号码", "身份证号", "id_number"),
    "relation": ("与户主关系", "relation"),
    "household_type": ("户类型", "household_type"),
    "monitoring_category": ("监测对象类别", "monitoring_category"),
    "phone": ("联系电话", "户联系电话", "phone"),
    "bank_name": ("开户银行", "开户行", "bank_name"),
    "bank_account": ("银行账号", "银行卡号", "bank_account"),
    "relocated": ("是否易地扶贫搬迁", "是否易地搬迁", "易地搬迁", "relocated"),
    "education": ("文化程度", "education"),
    "schooling": ("在校生状况", "schooling"),
    "health": ("健康状况", "health"),
    "disability_grade": ("残疾等级", "disability_grade"),
    "labour_skill": ("劳动技能", "labour_skill"),
    "migrant_work_months": ("务工时间(月)", "务工时间", "务工月数", "migrant_work_months"),
    "resident_medical": (
        "是否参加城乡居民基本医疗保险", "参加城乡居民基本医疗保险", "resident_medical",
    ),
    "critical_illness": ("是否参加大病保险", "参加大病保险", "critical_illness"),
    "pension": ("是否参加城乡居民基本养老保险", "参加城乡居民基本养老保险", "pension"),
    "dibao": ("是否享受低保", "是否享受农村低保", "享受低保", "dibao"),
    "tekun": ("是否特困供养", "是否享受特困供养", "特困供养", "tekun"),
}
ALIASES = {normalise_header(s): f for f, spellings in HEADERS.items() for s in spellings}
REQUIRED = [
    ("household_number",), ("name",), ("id_number",), ("relation",), ("household_type",),
    ("village_code", "village"),
]

HOUSEHOLD_FIELDS = (
    "village_id", "household_type", "monitoring_category", "phone", "bank_name",
    "bank_account", "relocated",
)
MEMBER_FIELDS = (
    "household_id", "name", "relation", "education", "schooling", "health",
    "disability_grade", "labour_skill", "migrant_work_months", "resident_medical",
    "critical_illness", "pension", "dibao", "tekun",
)
# The file column each optional field comes from: a field whose column is absent keeps its
# stored value on an update (a slimmer export must not wipe what it does not carry).
SOURCE_COLUMN = {
    "monitoring_category": "monitoring_category", "phone": "phone", "bank_name": "bank_name",
    "bank_account": "bank_account", "relocated": "relocated", "education": "education",
    "schooling": "schooling", "health": "health", "disability_grade": "disability_grade",
    "labour_skill": "labour_skill", "migrant_work_months": "migrant_work_months",
    "resident_medical": "resident_medical", "critical_illness": "critical_illness",
    "pension": "pension", "dibao": "dibao", "tekun": "tekun",
}
# Columns whose fullwidth digits and letters (from Chinese input methods) become ASCII (a
# number, 务工时间, is read by the imports' one rule: policies.tables.typed_number).
# The row problem of a value not of its shape (policies.tables.ROW_PROBLEMS).
SHAPES = {HOUSEHOLD_NUMBER: "household_number_shape", PHONE: "phone_shape",
          BANK_ACCOUNT: "bank_account_shape"}
NFKC_COLUMNS = ("household_number", "id_number", "phone", "bank_account", "village_code",
                "disability_grade")
MEMBER_DEFAULTS = {
    "schooling": Schooling.not_in_school, "health": Health.healthy,
    "labour_skill": LabourSkill.ordinary, "migrant_work_months": 0,
    "resident_medical": True, "critical_illness": True, "pension": False, "dibao": False,
    "tekun": False,
}
YES = {"是", "y", "yes", "true", "1", "有"}
NO = {"否", "n", "no", "false", "0", "无", ""}
GRADES = {"1": 1, "2": 2, "3": 3, "4": 4, "一级": 1, "二级": 2, "三级": 3, "四级": 4,
          "1级": 1, "2级": 2, "3级": 3, "4级": 4}
NO_GRADE = {"", "无", "否", "none"}



@dataclass
class ImportReport(FileReport):
    """What an import of households found and did."""

    households_in_file: int = 0
    households_created: int = 0
    households_updated: int = 0
    households_unchanged: int = 0
    members_created: int = 0
    members_updated: int = 0
    members_unchanged: int = 0
    households_skipped: int = 0
    # (household number, bank fields before, after) of each stored household whose bank
    # account the file changed: the caller puts each on the audit trail; not in the answer.
    bank_changes: list[tuple[str, dict, dict]] = field(default_factory=list)

    def as_dict(self) -> dict:
        values = super().as_dict()
        del values["bank_changes"]
        return values


class _Checker:
    """Collects row errors from vectorised column checks."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.errors: list[RowError] = []

    def flag(self, mask: pd.Series, column: str, code: str,
             values: dict[str, str] | None = None) -> None:
        if not mask.any():
            return
        found = self.frame[column][mask] if column in self.frame else pd.Series("", mask.index)
        self.errors.extend(
            RowError(int(row), column, str(value), code, values or {})
            for row, value in found.items()
        )

    def text(self, column: str, *, max_length: int, required: bool, pattern: str | None = None):
        if column not in self.frame:
            return pd.Series(None, index=self.frame.index, dtype=object)
        values = self.frame[column]
        empty = values == ""
        if required:
            self.flag(empty, column, "required")
        self.flag(values.str.len() > max_length, column, "too_long", {"limit": str(max_length)})
        if pattern is not None:
            bad = ~empty & ~values.str.fullmatch(pattern)
            # in words: a clerk had been told "does not match \d{8,32}"
            self.flag(bad, column, SHAPES[pattern])
        faults = values[~empty].map(text_fault).dropna()
        self.errors.extend(RowError(int(row), column, str(values[row]), *fault)
                           for row, fault in faults.items())
        return values.where(~empty, None)

    def coded(self, column: str, vocabulary: type[Coded], *, default=None, required=False):
        if column not in self.frame:
            return pd.Series(default, index=self.frame.index, dtype=object)
        values = self.frame[column]
        lookup = {spelling: member.value for spelling, member in vocabulary.lookup().items()}
        mapped = values.map(lookup)
        empty = values == ""
        accepted = "、".join(label.split("|")[0] for label in vocabulary.labels().values())
        if required:
            self.flag(empty, column, "required")
        self.flag(~empty & mapped.isna(), column, "not_one_of", {"accepted": accepted})
        return mapped.where(~empty, default)

    def flag_yes_no(self, column: str, default: bool):
        if column not in self.frame:
            return pd.Series(default, index=self.frame.index, dtype=bool)
        values = self.frame[column].str.lower()
        yes, no = values.isin(YES), values.isin(NO)
        self.flag(~yes & ~no, column, "yes_or_no")
        return yes.where(values != "", default).astype(bool)

    def id_numbers(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        values = self.frame["id_number"].str.upper()
        shape_ok = values.str.fullmatch(r"\d{17}[\dX]")
        self.flag(~shape_ok, "id_number", "id_shape")
        province_ok = values.str[:2].isin(PROVINCE_CODES)
        self.flag(shape_ok & ~province_ok, "id_number", "id_province")
        births = pd.to_datetime(values.str[6:14], format="%Y%m%d", errors="coerce")
        today = pd.Timestamp(history.clock())  # the county's: a baby of its today is born
        date_ok = births.notna() & (births >= "1890-01-01") & (births <= today)
        self.flag(shape_ok & province_ok & ~date_ok, "id_number", "id_birth")
        candidates = shape_ok & province_ok & date_ok
        check_ok = pd.Series(False, index=values.index)
        if candidates.any():
            digits = values[candidates].str[:17].to_numpy().astype("S17")
            array = np.frombuffer(digits, dtype=np.uint8).reshape(-1, 17) - ord("0")
            expected = check_characters(array).astype(str)
            check_ok[candidates] = values[candidates].str[17].to_numpy() == expected
        self.flag(candidates & ~check_ok, "id_number", "id_check")
        odd = pd.to_numeric(values.str[16], errors="coerce") % 2 == 1
        sex = pd.Series(np.where(odd, "male", "female"), index=values.index)
        return values, sex, births.dt.date

    def integer(self, column: str, *, low: int, high: int, default: int):
        if column not in self.frame:
            return pd.Series(default, index=self.frame.index, dtype=int)
        values = self.frame[column]
        numbers = pd.to_numeric(typed_numbers(values.where(values != "", str(default)),
                                              places=0), errors="coerce")
        bad = numbers.isna() | (numbers < low) | (numbers > high)
        self.flag(bad, column, "whole_number", {"low": str(low), "high": str(high)})
        return numbers.fillna(default).astype(int)

    def grade(self, column: str):
        if column not in self.frame:
            return pd.Series(None, index=self.frame.index, dtype=object)
        values = self.frame[column]
        mapped = values.map(GRADES)
        self.flag(mapped.isna() & ~values.str.lower().isin(NO_GRADE), column, "grade")
        return mapped.astype(object).where(mapped.notna(), None)


def _villages(session: Session, frame: pd.DataFrame, checker: _Checker) -> pd.Series:
    rows = session.execute(
        sa.select(col(Region.id), col(Region.code), col(Region.name), col(Region.parent_id))
        .where(col(Region.level) == RegionLevel.village)
    ).all()
    if "village_code" in frame:
        by_code = {code: id_ for id_, code, _, _ in rows}
        ids = frame["village_code"].map(by_code)
        # an empty code is missing, not unknown (a merged cell reads empty below its first row)
        empty = frame["village_code"] == ""
        checker.flag(empty, "village_code", "required")
        checker.flag(ids.isna() & ~empty, "village_code", "unknown_village_code")
        return ids
    townships = dict(
        session.execute(
            sa.select(col(Region.id), col(Region.name))
            .where(col(Region.level) == RegionLevel.township)
        ).all()
    )
    # Resolve on "village/township" when the township is given, else on a unique village name.
    by_pair = {f"{name}/{townships.get(parent, '')}": id_ for id_, _, name, parent in rows}
    name_counts = Counter(name for _, _, name, _ in rows)
    by_name = {name: id_ for id_, _, name, _ in rows if name_counts[name] == 1}
    village = frame["village"]
    if "township" in frame:
        with_township = frame["township"] != ""
        ids = (village + "/" + frame["township"]).map(by_pair).where(with_township,
                                                                      village.map(by_name))
    else:
        with_township = pd.Series(False, index=frame.index)
        ids = village.map(by_name)
    shared = {name for name, count in name_counts.items() if count > 1}
    ambiguous = ids.isna() & ~with_township & village.isin(shared)
    checker.flag(ambiguous, "village", "ambiguous_village")
    checker.flag(village == "", "village", "required")
    checker.flag(ids.isna() & ~ambiguous & (village != ""), "village", "unknown_village")
    return ids


def _validate(session: Session, table: Table) -> tuple[pd.DataFrame, list[RowError]]:
    frame = table.frame
    for column in NFKC_COLUMNS:
        if column in frame:
            frame[column] = frame[column].str.normalize("NFKC")
    if "bank_account" in frame:  # as a card prints it, in groups of four
        frame["bank_account"] = frame["bank_account"].str.replace(r"[\s-]+", "", regex=True)
    check = _Checker(frame)
    out = pd.DataFrame(index=frame.index)
    out["household_number"] = check.text("household_number", max_length=32, required=True,
                                         pattern=HOUSEHOLD_NUMBER)
    out["name"] = check.text("name", max_length=64, required=True)
    out["id_number"], out["sex"], out["birth_date"] = check.id_numbers()
    out["relation"] = check.coded("relation", Relation, required=True)
    out["household_type"] = check.coded("household_type", HouseholdType, required=True)
    out["monitoring_category"] = check.coded("monitoring_category", MonitoringCategory)
    out["phone"] = check.text("phone", max_length=20, required=False, pattern=PHONE)
    out["bank_name"] = check.text("bank_name", max_length=64, required=False)
    out["bank_account"] = check.text("bank_account", max_length=32, required=False,
                                     pattern=BANK_ACCOUNT)
    out["relocated"] = check.flag_yes_no("relocated", False)
    out["education"] = check.coded("education", Education)
    out["schooling"] = check.coded("schooling", Schooling, default=Schooling.not_in_school.value)
    out["health"] = check.coded("health", Health, default=Health.healthy.value)
    out["disability_grade"] = check.grade("disability_grade")
    out["labour_skill"] = check.coded("labour_skill", LabourSkill,
                                      default=LabourSkill.ordinary.value)
    out["migrant_work_months"] = check.integer("migrant_work_months", low=0, high=12, default=0)
    for flag in ("resident_medical", "critical_illness", "pension", "dibao", "tekun"):
        out[flag] = check.flag_yes_no(flag, bool(MEMBER_DEFAULTS[flag]))
    out["village_id"] = _villages(session, frame, check)

    # Cross-row rules: unique people, one head, one set of household fields per household.
    duplicated = out["id_number"].duplicated(keep="first") & (out["id_number"] != "")
    check.flag(duplicated, "id_number", "repeated_person")
    is_head = out["relation"] == Relation.head.value
    heads = is_head.groupby(out["household_number"]).transform("sum")
    check.flag(heads == 0, "relation", "no_head")
    check.flag(is_head & (is_head.groupby(out["household_number"]).cumsum() > 1), "relation",
               "second_head")
    if "head_name" in frame:
        head_names = out["name"].where(is_head).groupby(out["household_number"]).transform("first")
        check.flag((frame["head_name"] != "") & head_names.notna()
                   & (frame["head_name"] != head_names), "head_name", "head_name")
    first_rows = out.drop_duplicates("household_number").set_index("household_number")
    first = first_rows[list(HOUSEHOLD_FIELDS)].reindex(out["household_number"])
    first.index = out.index
    for column in HOUSEHOLD_FIELDS:
        a, b = out[column], first[column]
        differs = ~((a == b) | (a.isna() & b.isna()))
        source = "village_code" if column == "village_id" and "village_code" in frame else column
        source = "village" if source == "village_id" else source
        check.flag(differs, source, "differs_from_first_row")
    return out, check.errors


def import_households(
    session: Session, data: bytes, filename: str, *, partial: bool = False,
    as_of: date | None = None,
) -> ImportReport:
    """Validate a household file and, if it is valid (or ``partial``), write it; flushes only.

    ``as_of`` is the day the export describes (a past year's registry, 历年数据): what it
    creates or changes is the registry's history from that day, not from today. Exports
    go in in the order of their days; one older than what the registry holds is refused."""
    table = read_table(data, filename, ALIASES, REQUIRED)
    report = ImportReport(rows=len(table.frame), encoding=table.encoding,
                          ignored_columns=table.ignored_columns)
    out, errors = _validate(session, table)
    report.households_in_file = int(out["household_number"].nunique())

    numbers = sorted(n for n in out["household_number"].dropna().unique())
    existing_households = lookup(session, Household.__table__, "household_number", numbers,
                                    ("id", *HOUSEHOLD_FIELDS))
    id_numbers = sorted(out["id_number"][out["id_number"] != ""].unique())
    existing_members = lookup(session, Member.__table__, "id_number", id_numbers,
                                 ("id", *MEMBER_FIELDS))

    if as_of is not None and as_of > history.clock():
        raise InvalidInput(f"as_of {as_of} is after today ({history.clock()})",
                           field="as_of", value=str(as_of))
    if as_of is not None:
        _check_order(session, as_of, existing_households, existing_members)
    errors.extend(_moved_people(session, out, existing_households, existing_members))
    errors.extend(_second_heads(session, out, existing_households))

    bad_rows = {e.row for e in errors}
    errors.sort(key=lambda e: (e.row, e.field))
    report.errors = errors
    if errors and not partial:
        return report
    if bad_rows:
        bad_households = set(out.loc[sorted(bad_rows), "household_number"])
        keep = ~out["household_number"].isin(bad_households)
        report.households_skipped = len(bad_households)
        out = out[keep]

    present = {f for f, column in SOURCE_COLUMN.items() if column in table.frame}
    _write(session, out, existing_households, existing_members, report, present, as_of)
    report.written = True
    return report


def _moved_people(session, out, existing_households, existing_members) -> list[RowError]:
    """A person already registered in another household must be moved there explicitly."""
    number_of = {v[0]: n for n, v in existing_households.items()}
    known = out[out["id_number"].isin(list(existing_members))]
    elsewhere = {existing_members[i][1] for i in known["id_number"]} - set(number_of)
    if elsewhere:
        number_of.update(session.execute(
            sa.select(col(Household.id), col(Household.household_number)).where(
                col(Household.id).in_(elsewhere))
        ).all())
    errors = []
    for row, id_number, number in zip(known.index, known["id_number"],
                                      known["household_number"], strict=True):
        registered_in = number_of[existing_members[id_number][1]]
        if registered_in != number:
            errors.append(RowError(int(row), "id_number", id_number, "registered_elsewhere",
                                   {}))
    return errors


def _second_heads(session, out, existing_households) -> list[RowError]:
    """A stored 户主 who is not in the file stays head: the file may not add another."""
    ids = [v[0] for v in existing_households.values()]
    if not ids:
        return []
    stored = session.execute(
        sa.select(col(Household.household_number), col(Member.id_number))
        .join(Member, col(Member.household_id) == Household.id)
        .where(col(Household.id).in_(ids), col(Member.relation) == Relation.head,
               col(Member.status) == MemberStatus.active)
    ).all()
    in_file = set(out["id_number"])
    heads = out[out["relation"] == Relation.head.value]
    errors = []
    for number, id_number in stored:
        if id_number in in_file:
            continue  # the file states this person's relation itself
        for row in heads.index[heads["household_number"] == number]:
            errors.append(RowError(int(row), "relation", Relation.head.label,
                                   "head_not_in_file", {"household": number}))
    return errors


def _columns(frame: pd.DataFrame) -> dict[str, list]:
    """Columns as lists of plain Python values, with None for every kind of missing value."""
    clean = frame.astype(object).where(frame.notna(), None)
    return {name: clean[name].tolist() for name in frame.columns}


def _split(columns: dict[str, list], key: str, fields: tuple[str, ...], existing: dict,
           compared: list[str]):
    """Row positions that are new, and (position, id) of rows whose compared fields changed.

    ``existing`` maps key → (id, *fields) as stored.
    """
    new, changed = [], []
    positions = [fields.index(f) + 1 for f in compared]
    values = [columns[f] for f in compared]
    for i, k in enumerate(columns[key]):
        known = existing.get(k)
        if known is None:
            new.append(i)
        elif any(v[i] != known[p] for v, p in zip(values, positions, strict=True)):
            changed.append((i, known[0]))
    return new, changed


def _history_changed(columns, key, fields, existing, compared, kept) -> list[int]:
    """Ids of stored rows whose kept-in-history fields the file changed: a change of a phone
    number alone is no new version."""
    return [id_ for _, id_ in _split(columns, key, fields, existing,
                                     [f for f in compared if f in kept])[1]]


def _update(session, table: sa.Table, columns, changed, fields, now=None) -> None:
    if not changed:
        return
    values = {"id": [id_ for _, id_ in changed],
              **{f: [columns[f][i] for i, _ in changed] for f in fields}}
    if now is not None:
        values["updated_at"] = [now] * len(changed)
    update_columns(session, table, "id", values)


def _check_order(session, as_of: date, existing_households, existing_members) -> None:
    """Refuse an export of a day before a state the registry already holds of its rows:
    history is written forward, so a later version would be lost."""
    for version, key, existing in (
            (HouseholdVersion, HouseholdVersion.household_id, existing_households),
            (MemberVersion, MemberVersion.member_id, existing_members)):
        ids = sorted(v[0] for v in existing.values())
        for start in range(0, len(ids), 5000):
            latest = session.execute(sa.select(sa.func.max(version.valid_from)).where(
                col(key).in_(ids[start:start + 5000]))).scalar()
            if latest is not None and latest > as_of:
                raise InvalidInput(
                    f"the registry already holds these households as of {latest}, after "
                    f"{as_of}: import the exports in the order of their days", field="as_of",
                    value=str(as_of))


def _write(session, out, existing_households, existing_members, report, present,
           as_of: date | None = None) -> None:
    now = utcnow()
    household_fields = [f for f in HOUSEHOLD_FIELDS if f in present or f not in SOURCE_COLUMN]
    member_fields = [f for f in MEMBER_FIELDS if f in present or f not in SOURCE_COLUMN]
    households = _columns(
        out.drop_duplicates("household_number")[["household_number", *HOUSEHOLD_FIELDS]]
    )
    households["village_id"] = [int(v) for v in households["village_id"]]
    new, changed = _split(households, "household_number", HOUSEHOLD_FIELDS, existing_households,
                          household_fields)
    total = len(households["household_number"])
    report.households_created = len(new)
    report.households_updated = len(changed)
    report.households_unchanged = total - len(new) - len(changed)
    table = Household.__table__
    if new:
        rows = {name: [values[i] for i in new] for name, values in households.items()}
        rows.update(status=["active"] * len(new), created_at=[now] * len(new),
                    updated_at=[now] * len(new))
        insert_columns(session, table, rows)
    _update(session, table, households, changed, household_fields, now)
    bank = [f for f in ("bank_name", "bank_account") if f in household_fields]
    for i, _id in changed:
        number = households["household_number"][i]
        stored = dict(zip(HOUSEHOLD_FIELDS, existing_households[number][1:], strict=True))
        if any(households[f][i] != stored[f] for f in bank):
            report.bank_changes.append((number, {f: stored[f] for f in bank},
                                        {f: households[f][i] for f in bank}))
    created = [households["household_number"][i] for i in new]
    ids = {n: v[0] for n, v in existing_households.items()}
    ids.update((n, v[0]) for n, v in
               lookup(session, table, "household_number", created, ("id",)).items())
    versioned_households = [ids[n] for n in created] + _history_changed(
        households, "household_number", HOUSEHOLD_FIELDS, existing_households,
        household_fields, history.HOUSEHOLD_FIELDS)

    members = _columns(out[["id_number", "sex", "birth_date", *MEMBER_FIELDS[1:]]])
    members["household_id"] = [ids[n] for n in out["household_number"]]
    members["disability_grade"] = [
        None if g is None else int(g) for g in members["disability_grade"]
    ]
    new, changed = _split(members, "id_number", MEMBER_FIELDS, existing_members, member_fields)
    if new:
        rows = {name: [values[i] for i in new] for name, values in members.items()}
        rows["status"] = [MemberStatus.active.value] * len(new)
        insert_columns(session, Member.__table__, rows)
    _update(session, Member.__table__, members, changed, member_fields)
    created_members = lookup(session, Member.__table__, "id_number",
                             [members["id_number"][i] for i in new], ("id",))
    # Core writes pass the flush hook by: their versions are written here.
    history.record(session.connection(),
                   members=[v[0] for v in created_members.values()] + _history_changed(
                       members, "id_number", MEMBER_FIELDS, existing_members, member_fields,
                       history.MEMBER_FIELDS),
                   households=versioned_households, on=as_of)
    report.members_created = len(new)
    report.members_updated = len(changed)
    report.members_unchanged = len(members["id_number"]) - len(new) - len(changed)
    session.flush()
