"""A claim's records and audit history as staff read them (案件记录): each recorded field under
its label, codes by their names, amounts as money, people by their names and the system's
reasons in the reader's language (the page printed keys, codes and a Python dictionary)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from claims import reasons
from claims.web.i18n import code_label, money, translator
from policies.messages import N_

FIELDS = {
    # an income record's figures: on the audit trail (the Chinese page had shown wages … as
    # stored) and in a refused form ("Please correct the form: wages — too small")
    "wages": N_("Wages"), "business_crops": N_("Business income: crops"),
    "business_livestock": N_("Business income: livestock"),
    "business_other": N_("Business income: other"), "property_income": N_("Property income"),
    "transfer_pension": N_("Transfers: pension"), "transfer_dibao": N_("Transfers: dibao"),
    "transfer_tekun": N_("Transfers: tekun support"),
    "transfer_disaster_relief": N_("Transfers: disaster relief"),
    "transfer_poverty_insurance": N_("Transfers: poverty-prevention insurance"),
    "transfer_other": N_("Transfers: other"), "business_costs": N_("Business costs"),
    "eligible_out_of_pocket": N_("Eligible out-of-pocket medical costs"),
    "net_income": N_("Net income"), "household_size": N_("Household size"),
    "visit_date": N_("Visit date"), "team": N_("Survey team"), "findings": N_("Findings"),
    "asset_check": N_("Asset cross-checks"), "documents": N_("Documents"),
    "outcome": N_("Outcome"), "representatives": N_("Village representatives"),
    "notes": N_("Notes"), "start_date": N_("Notice starts"), "reason": N_("Reason"),
    "text": N_("Explanation"), "upheld": N_("Upheld"), "amount": N_("Amount"),
    "note": N_("Note"), "code": N_("Reason code"), "investigator_id": N_("Investigator"),
    "housing_secure": N_("Housing secure"), "schooling_secure": N_("Schooling secure"),
    "medical_secure": N_("Medical cover secure"),
    "water_secure": N_("Drinking water secure"),
    "location": N_("Location (from the browser)"),
    "document_type": N_("Document"),
}
# Kept for the trail, shown by the record's own line (who waived is its actor).
UNSHOWN = {"by"}
# A field whose meaning depends on the step.
STEP_FIELDS = {("record_objection", "text"): N_("Objection"),
               ("objection", "text"): N_("Objection")}
ASSET_CHECKS = {"bank_deposits": N_("Bank deposits"), "vehicles": N_("Vehicles"),
                "housing": N_("Housing")}
REVIEW_OUTCOMES = {"agree": N_("agree"), "disagree": N_("disagree")}
YES, NO = N_("yes"), N_("no")
LOCATION = N_("latitude %(latitude)s, longitude %(longitude)s, within %(accuracy)s m")


# The events that changed a claim, as the evaluator names them in a recalculation's reason
# (claims.intake._naming): read in the reader's language ("重新计算 event T3-N2" had mixed
# the two on the Chinese page: a re-tester's).
EVENTS_NAMED = [
    (re.compile(r"event (\S.*)"), N_("event %(event)s")),
    (re.compile(r"events (\S.*)"), N_("events %(event)s")),
    (re.compile(r"(?P<count>\d+) events, (?P<first>.+) … (?P<last>.+)"),
     N_("%(count)s events, %(first)s … %(last)s")),
]


def reason_text(text: str, language: str) -> str:
    """A stored reason: the system's in the reader's language, a person's as typed."""
    found = reasons.parse(text)
    if found is None:
        for pattern, words in EVENTS_NAMED:
            named = pattern.fullmatch(text or "")
            if named:
                values = named.groupdict() or {"event": named[1]}
                return translator(language)(words, **values)
        return text
    code, values = found
    shown = {name: _amount(value) for name, value in values.items()}
    return translator(language)(reasons.SYSTEM_REASONS[code], **shown)


def _amount(value: str) -> str:
    if "." not in value:
        return value
    try:
        return money(Decimal(value))
    except InvalidOperation:
        return value


def record_fields(kind: str, data: dict[str, Any], language: str,
                  people_by_id: dict[int, str]) -> list[tuple[str, str]]:
    """The record's filled fields as (label, text), in the order the step records them."""
    _ = translator(language)
    shown = []
    for key, value in data.items():
        if value in (None, "", [], {}) or key in UNSHOWN:
            continue
        label = STEP_FIELDS.get((kind, key)) or FIELDS.get(key)
        shown.append((_(label) if label else key.replace("_", " "),
                       _value(key, value, language, people_by_id)))
    return shown


def _value(key: str, value: Any, language: str, people_by_id: dict[int, str]) -> str:
    _ = translator(language)
    separator, colon, semicolon = ("，", "：", "；") if language == "zh" else (", ", ": ", "; ")
    if key == "asset_check" and isinstance(value, dict):
        return semicolon.join(
            f"{_(ASSET_CHECKS[item]) if item in ASSET_CHECKS else item}{colon}{result}"
            for item, result in value.items() if result)
    if key == "location" and isinstance(value, dict):
        return _(LOCATION, latitude=f"{value['latitude']:.6f}",
                 longitude=f"{value['longitude']:.6f}", accuracy=f"{value['accuracy']:,.0f}")
    if isinstance(value, list):
        return separator.join(str(v) for v in value)
    if isinstance(value, bool):
        return _(YES if value else NO)
    if key == "outcome":
        return _(REVIEW_OUTCOMES.get(value, value))
    if key == "code":
        return code_label("RejectionCode", value, language)
    if key == "document_type":
        return code_label("DocumentType", value, language)
    if key == "amount":
        return money(value)
    if key == "investigator_id":
        return people_by_id.get(int(value), str(value))
    if key == "reason":
        return reason_text(str(value), language)
    return str(value)
