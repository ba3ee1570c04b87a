"""A second calculator, written apart from policies.calculator and sharing none of its code:
it reads the terms as the plain data a TOML file holds, counts in exact fractions of a yuan
and keeps the year as a list of what each event counted and was paid. The differential test
compares the two on generated terms and events.

Its reading of the terms (docs/terms.md):
- an event's loss is its added amounts less its subtracted ones, never below zero;
- the deductible is taken from the event's own loss (per "event") or from the year's running
  loss of its holder (per "year"); the holder is the person, or the household;
- bands apply to the holder's running amount above the deductible; the year's entitlement is
  rounded half-up to the fen, and an event's own entitlement is how much it raises it;
- a per-event cap limits the event's own entitlement; year caps limit what the year's events
  are paid in all (per person, per household, shared), whatever their order in the file.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

TYPES = ("lifted_out", "ordinary")
CATEGORIES = ("unstable_lifted_out", "marginal", "sudden_hardship", "none")


def q(text) -> Fraction:
    return Fraction(Decimal(str(text)))


def fen(value: Fraction) -> int:
    """Half-up to the fen, as a whole number of fen (amounts are never negative)."""
    scaled = value * 100
    return (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)


def band_value(excess: Fraction, bands: list[dict]) -> Fraction:
    """What the bands pay on an excess: each band's ratio on the part of the excess inside it."""
    total, low = Fraction(0), Fraction(0)
    for band in bands or [{"ratio": "1"}]:
        high = q(band["up_to"]) if "up_to" in band else None
        inside = (excess if high is None else min(excess, high)) - low
        if inside > 0:
            total += inside * q(band["ratio"])
        if high is None:
            break
        low = high
    return total


def holds(group: dict, household: dict, day: date, start: date, top: bool) -> str | None:
    """None when every condition of the group holds, else the reason of the first that fails."""
    category = household.get("monitoring_category") or "none"
    if "household_types" in group and household["household_type"] not in group["household_types"]:
        return "household_type"
    if ("monitoring_categories" in group
            and category not in group["monitoring_categories"]):
        return "monitoring_category"
    if "flags" in group and not set(group["flags"]) & set(household.get("flags", ())):
        return "flag_missing"
    tests = []
    if top and "max_income_multiple" in group:
        tests.append(("at_most", group["max_income_multiple"]))
    if "per_capita_income" in group:
        tests += list(group["per_capita_income"].items())
    for comparison, multiple in tests:
        income, line = household.get("per_capita_income"), household.get("monitoring_line")
        if income is None or line is None:
            return "income_unknown"
        limit = q(multiple) * q(line)
        if comparison == "below" and not q(income) < limit:
            return "income_not_below_limit"
        if comparison == "at_most" and not q(income) <= limit:
            return "income_above_limit"
    if "any_of" in group:
        found = [holds(branch, household, day, start, False) for branch in group["any_of"]]
        if None not in found:
            return found[0] if len(set(found)) == 1 else "not_eligible"
    for branch in group.get("all_of", ()):
        failed = holds(branch, household, day, start, False)
        if failed:
            return failed
    if not top and group.get("waiting_days") and day < start + timedelta(group["waiting_days"]):
        return "waiting_period"
    return None


def refusal(spec: dict, household: dict, day: date, year: int) -> str | None:
    rules = spec.get("eligibility", {})
    start = household.get("covered_from") or date(year, 1, 1)
    end = household.get("covered_to") or date(year, 12, 31)
    failed = holds(rules, household, day, start, True)
    if failed:
        return failed
    if day < start or day > end:
        return "outside_coverage"
    if rules.get("waiting_days") and day < start + timedelta(rules["waiting_days"]):
        return "waiting_period"
    return None


def reference_payouts(spec: dict, household: dict, events: list[dict], year: int
                      ) -> dict[str, tuple[Decimal, str | None]]:
    """Each event's (payout, reason) by event id."""
    ledger: list[dict] = []  # one record per event that was eligible
    answer = {}
    for event in sorted(events, key=lambda e: (e["event_date"], e["event_id"])):
        kind, who = event["type"], event.get("id_number") or "household"
        terms = spec["triggers"].get(kind)
        if terms is None:
            answer[event["event_id"]] = (Decimal("0.00"), "not_covered")
            continue
        refused = refusal(spec, household, event["event_date"], year)
        if refused:
            answer[event["event_id"]] = (Decimal("0.00"), refused)
            continue
        reason = None
        loss = excess = Fraction(0)
        holder = who
        if "base" in terms:
            amounts = {k: q(v) for k, v in event.get("amounts", {}).items()}
            loss = max(Fraction(0), sum((amounts.get(a, 0) for a in terms["base"]["add"]),
                                        Fraction(0))
                       - sum((amounts.get(a, 0) for a in terms["base"].get("subtract", ())),
                             Fraction(0)))
            deductible = terms.get("deductible")
            if deductible and deductible.get("unit") == "household":
                holder = "household"
            mine = [r for r in ledger if r["type"] == kind and r["holder"] == holder]
            loss_before = sum((r["loss"] for r in mine), Fraction(0))
            excess_before = sum((r["excess"] for r in mine), Fraction(0))
            if not deductible:
                excess = loss
            elif deductible.get("per", "year") == "event":
                excess = max(Fraction(0), loss - q(deductible["amount"]))
            else:
                level = q(deductible["amount"])
                excess = (max(Fraction(0), loss_before + loss - level)
                          - max(Fraction(0), loss_before - level))
            bands = terms.get("bands", [])
            own = (fen(band_value(excess_before + excess, bands))
                   - fen(band_value(excess_before, bands)))
            if loss == 0:
                reason = "no_loss"
            elif excess == 0:
                reason = "below_deductible"
            elif own == 0:
                reason = "no_entitlement"
        elif "fixed" in terms:
            own = fen(q(terms["fixed"]))
            reason = None if own else "no_amount"
        else:
            chosen = str(event.get("details", {}).get(terms["fixed_by"]["detail"], ""))
            own = fen(q(terms["fixed_by"]["amounts"].get(chosen, "0")))
            reason = None if own else "no_amount"
        caps = terms.get("caps", {})
        pay = own
        if "per_event" in caps and pay > fen(q(caps["per_event"])):
            pay, reason = fen(q(caps["per_event"])), "cap_reached"
        limits = []  # (cap, the triggers it covers, whether it is one person's)
        if "per_person_year" in caps:
            limits.append((caps["per_person_year"], {kind}, True))
        if "per_household_year" in caps:
            limits.append((caps["per_household_year"], {kind}, False))
        for shared in spec.get("shared_caps", ()):
            if kind in shared["triggers"]:
                for key, personal in (("per_person_year", True), ("per_household_year", False)):
                    if key in shared:
                        limits.append((shared[key], set(shared["triggers"]), personal))
        for cap, names, personal in limits:
            used = sum(r["paid"] for r in ledger
                       if r["type"] in names and (not personal or r["who"] == who))
            room = max(0, fen(q(cap)) - used)
            if pay > room:
                pay, reason = room, "cap_reached"
        ledger.append({"type": kind, "who": who, "holder": holder, "loss": loss,
                       "excess": excess, "paid": pay})
        answer[event["event_id"]] = (Decimal(pay) / 100, reason)
    return answer
