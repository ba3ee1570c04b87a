"""The workspace's languages (界面语言): Chinese by default, English from a switch in the
header. Texts are written in English in the templates and the code and translated through a
gettext message catalog (claims/web/locale/zh.po, kept with Babel's ``pybabel``); codes such
as claim states take their Chinese names from the vocabulary's labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader, select_autoescape

from claims import clock
from claims.settings import get_settings
from policies import calculator
from policies.messages import N_
from policies.vocab import LABELS
from risk import features, scoring

# Codes whose names live in the catalog (the vocabulary's labels name the rest).
CODE_NAMES = {
    "Trigger": [N_("illness"), N_("disability"), N_("disaster"), N_("accident"),
                N_("education"), N_("employment"), N_("housing"), N_("liability"),
                N_("industry")],
    "Action": [N_("start_investigation"), N_("submit_survey"), N_("record_review"),
               N_("start_notice"), N_("record_objection"), N_("close_notice"), N_("approve"),
               N_("reject"), N_("withdraw"), N_("reconsider"), N_("mark_paid"), N_("reopen"),
               N_("payment_returned"), N_("notice_again"),
               N_("open"), N_("create"), N_("set_password"), N_("close"), N_("evaluate"),
               N_("home_check"), N_("democratic_review"), N_("notice"), N_("objection")],
    "RejectionCode": [N_("not_covered"), N_("not_eligible"), N_("below_deductible"),
                      N_("duplicate"), N_("false_information"), N_("village_review"),
                      N_("other")],
    # every event type's amounts (policies.terms.BUILTIN_EVENT_TYPES): a calculation's lines
    # name them, and a flood's read "assessed_loss" on a Chinese page
    "Amount": [N_("total_cost"), N_("basic_insurance_paid"), N_("critical_illness_paid"),
               N_("medical_assistance_paid"), N_("other_insurance_paid"), N_("assessed_loss"),
               N_("relief_paid"), N_("insurance_paid"), N_("cost"), N_("compensation_paid"),
               N_("tuition_cost"), N_("living_cost"), N_("aid_received"), N_("repair_cost"),
               N_("subsidy_received"), N_("lost_income"), N_("unemployment_benefit"),
               N_("loss")],
    # the event details a calculation's lines name (a disability's fixed amount by grade)
    "Detail": [N_("grade")],
    "PaymentResult": [N_("paid"), N_("failed"), N_("returned"), N_("already_paid"),
                      N_("already_failed"), N_("already_returned"), N_("error")],
    "ClaimState": [],
    "Role": [],
}
LANGUAGES = ("zh", "en")
DEFAULT = "zh"
LOCALE = Path(__file__).parent / "locale"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@cache
def catalog(language: str) -> dict[str, str]:
    """msgid → translation of a language (English is the source: empty)."""
    path = LOCALE / f"{language}.po"
    if language == "en" or not path.is_file():
        return {}
    with path.open("rb") as handle:
        messages = read_po(handle)
    return {m.id: m.string for m in messages if m.id and m.string and not m.fuzzy}


def translator(language: str):
    found = catalog(language)

    def gettext(message: str, **values) -> str:
        text = found.get(message, message)
        return text % values if values else text

    gettext.language = language  # type: ignore[attr-defined]  # for the codes' names
    return gettext


def code_label(kind: str, code: str | None, language: str) -> str:
    """The name of a code (a claim state, a role, a trigger) in the language."""
    if code is None:
        return ""
    if language == "zh":
        name = LABELS.get(kind, {}).get(code) or catalog("zh").get(code)
        if name:
            return name.split("|")[0]
    return code.replace("_", " ")


# Placeholders of the calculation's lines that hold a code of the vocabulary.
PLACEHOLDER_KINDS = {"type": "HouseholdType", "category": "MonitoringCategory"}
NOT_MONITORED = N_("not monitored")


# A code as the calculator writes it into a line (lifted_out, assessed_loss).
_CODE = re.compile(r"[a-z]+(?:_[a-z]+)+")


def value_label(name: str, value: str, language: str) -> str:
    """A value inside a message (a trigger, a household type) in the language: in English a
    code in words (the English trace and payout notice had read "lifted_out", "+
    assessed_loss")."""
    if name == "category" and value == "none":
        return translator(language)(NOT_MONITORED)
    if language != "zh":
        return value.replace("_", " ") if _CODE.fullmatch(value) else value
    if name in PLACEHOLDER_KINDS:
        return code_label(PLACEHOLDER_KINDS[name], value, language)
    if name == "triggers":
        return "+".join(catalog("zh").get(v, v) for v in value.split("+"))
    return catalog("zh").get(value, value)


def trace_text(line: dict, language: str) -> str:
    """A line of a payout calculation in the language (lines stored before templates were
    kept are shown as written)."""
    template = line.get("template")
    if not template:
        return line["text"]
    values = {k: value_label(k, v, language) for k, v in (line.get("values") or {}).items()}
    return translator(language)(template, **values)


# A pattern that reads a text written from a template back into its values.
# What reads an English text worded by a template back to its values.
def template_pattern(template: str) -> re.Pattern:
    return re.compile(re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>.+?)", re.escape(template)))


# An event's early warning keeps the calculator's words (claims.intake): read back into their
# template and values, they render in the reader's language, rows stored long ago included.
WARNING_PATTERNS = [(template, template_pattern(template))
                    for template in calculator.WARNINGS.values()]
# A risk warning is stored in Chinese (risk.scoring): read back the same way, by its English
# (the longer form first: the shorter one would match it too).
RISK_WARNINGS = {
    scoring.REACHED_SINCE: N_("Risk of falling back %(score)s, at or above the warning "
                              "threshold %(threshold)s (last time %(previous)s)"),
    scoring.REACHED: N_("Risk of falling back %(score)s, at or above the warning threshold "
                        "%(threshold)s"),
    scoring.ROSE: N_("Risk of falling back rose from %(previous)s to %(score)s"),
    scoring.SPENT_TEXT: N_("Income per person after the year's own spending about %(left)s "
                           "yuan, below the line; risk score %(score)s")}
RISK_PATTERNS = [(english, template_pattern(stored)) for stored, english in RISK_WARNINGS.items()]


def warning_text(text: str, language: str) -> str:
    """An early warning's stored text in the reader's language (other texts as stored)."""
    for template, pattern in WARNING_PATTERNS:
        found = pattern.fullmatch(text or "")
        if found:
            return trace_text({"text": text, "template": template,
                               "values": found.groupdict()}, language)
    for template, pattern in RISK_PATTERNS:
        found = pattern.fullmatch(text or "")
        if found:
            return translator(language)(template, **found.groupdict())
    return text


# What the county's clock is called; other zones go by their name (Asia/Urumqi).
BEIJING_TIME = N_("Beijing time")
ZONE_NAMES = {"Asia/Shanghai": BEIJING_TIME}


def county_time(value: datetime | None, language: str, format: str = "%Y-%m-%d %H:%M") -> str:
    """An instant (stored in UTC) in the county's clock, FANGPIN_TIMEZONE: with a time of
    day it is labelled with the zone (北京时间); a date alone is the county's date."""
    if value is None:
        return ""
    zone = get_settings().timezone
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(ZoneInfo(zone))
    text = local.strftime(format)
    if "%H" not in format:
        return text
    label = translator(language)(ZONE_NAMES[zone]) if zone in ZONE_NAMES else zone
    return f"{text} {label}"


SYSTEM = N_("the system")


def actor_text(label: str, language: str, people: dict[str, str] | None = None) -> str:
    """Who did it, from the audit trail's label: a user by name (their username where the
    name is not at hand), a department key by its name, the system as such."""
    kind, _, name = (label or "").partition(":")
    if kind == "system":
        return translator(language)(SYSTEM)
    if kind == "user":
        return (people or {}).get(name, name)
    return name or label


def money(value: Decimal | str | float | None) -> str:
    """An amount of yuan as staff read it: two decimals, thousands separated (the trace kept
    four decimals and no separators: "2000.0000")."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"


@cache
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    gettext = translator(language)
    env.install_gettext_callables(
        gettext=gettext, ngettext=lambda s, p, n, **kw: gettext(s if n == 1 else p, **kw),
        newstyle=True)
    env.globals.update(
        language=language, languages=LANGUAGES, yes_no=features.YES_NO,
        code=lambda kind, value: code_label(kind, value, language),
        labelled=lambda kind, rows: [(code_label(kind, key, language), n) for key, n in rows],
        trace_text=lambda line: trace_text(line, language),
        actor=lambda label, people=None: actor_text(label, language, people),
        # the latest day a form takes where a day to come is refused (a visit, a notice's
        # start): the browser says so before the form is sent
        county_today=clock.county_today)
    env.filters["warning_text"] = lambda text: warning_text(text, language)
    env.filters["county_time"] = lambda value, format="%Y-%m-%d %H:%M": county_time(
        value, language, format)
    env.filters["money"] = money
    return env
