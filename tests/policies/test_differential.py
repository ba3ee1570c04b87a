"""The engine against the reference calculator (reference_calculator.py, written apart) on
generated terms and event sequences: every event's payout and reason must agree, and the
per-event rules must hold. FANGPIN_DIFFERENTIAL_CASES sets the number of cases (default 2000);
a long run: FANGPIN_DIFFERENTIAL_CASES=100000 ./scripts/test tests/policies/test_differential.py
"""

from __future__ import annotations

import json
import os
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from policies.calculator import HouseholdSnapshot, TriggerEvent, calculate
from policies.terms import BUILTIN_EVENT_TYPES, parse_terms
from tests.policies.reference_calculator import CATEGORIES, TYPES, reference_payouts

CASES = int(os.environ.get("FANGPIN_DIFFERENTIAL_CASES", "2000"))
YEAR = 2026
PEOPLE = ("11010519491231002X", "110105195001010019", None)
FLAGS = ("dibao", "tekun", "disabled_member")
MULTIPLES = ("1", "1.5", "2", "1.25", "0.8")


def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool | int):
        return str(value).lower()
    return json.dumps(value, ensure_ascii=False)


def toml_of(spec: dict) -> str:
    text = (f'[policy]\ntitle = "generated"\ncounty = "测试县"\npolicy_year = {YEAR}\n')
    for key in ("eligibility", "triggers"):
        if key in spec:
            text += f"\n[{key}]\n" + "".join(f"{json.dumps(k)} = {toml_value(v)}\n"
                                              for k, v in spec[key].items())
    for cap in spec.get("shared_caps", ()):
        text += "\n[[shared_caps]]\n" + "".join(f"{k} = {toml_value(v)}\n"
                                                for k, v in cap.items())
    return text


def money(rng: random.Random, scale: int) -> str:
    pick = rng.random()
    if pick < 0.1:
        return "0"
    if pick < 0.25:
        return f"{rng.randint(1, 100)}.{rng.randint(0, 99):02d}"
    return f"{rng.randint(1, scale)}.{rng.choice(['00', '50', str(rng.randint(0, 99)).zfill(2)])}"


def a_subset(rng: random.Random, values) -> list:
    return rng.sample(list(values), rng.randint(1, len(values)))


def a_condition(rng: random.Random, depth: int) -> dict:
    group: dict = {}
    while not group:
        for key in ("household_types", "monitoring_categories", "flags", "per_capita_income",
                    "waiting_days", "any_of", "all_of"):
            if rng.random() > 0.25:
                continue
            if key == "household_types":
                group[key] = a_subset(rng, TYPES)
            elif key == "monitoring_categories":
                group[key] = a_subset(rng, CATEGORIES)
            elif key == "flags":
                group[key] = a_subset(rng, FLAGS)
            elif key == "per_capita_income":
                group[key] = {rng.choice(["below", "at_most"]): rng.choice(MULTIPLES)}
            elif key == "waiting_days":
                group[key] = rng.choice([0, 10, 30, 60])
            elif depth < 2:
                group[key] = [a_condition(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    return group


def an_eligibility(rng: random.Random) -> dict | None:
    if rng.random() < 0.3:
        return None
    rules = a_condition(rng, 0) if rng.random() < 0.7 else {}
    if "per_capita_income" not in rules and rng.random() < 0.3:
        rules["max_income_multiple"] = rng.choice(MULTIPLES)
    if rng.random() < 0.4:
        rules["waiting_days"] = rng.choice([0, 15, 30])
    return rules


def a_trigger(rng: random.Random, kind: str) -> dict:
    amounts = BUILTIN_EVENT_TYPES[kind]["amounts"]
    details = BUILTIN_EVENT_TYPES[kind]["details"]
    way = rng.random()
    trigger: dict = {}
    if amounts and way < 0.75:
        add = rng.sample(amounts, rng.randint(1, min(2, len(amounts))))
        rest = [a for a in amounts if a not in add]
        trigger["base"] = {"add": add, "subtract": rng.sample(rest, rng.randint(0, len(rest)))}
        if rng.random() < 0.7:
            trigger["deductible"] = {"amount": money(rng, 20000),
                                     "per": rng.choice(["year", "event"]),
                                     "unit": rng.choice(["person", "household"])}
        if rng.random() < 0.8:
            ends = sorted({rng.randint(1, 100) * 500 for _ in range(rng.randint(0, 3))})
            ratios = ["0", "0.3", "0.5", "0.333", "0.9", "1", "0.05"]
            trigger["bands"] = [{"up_to": str(end), "ratio": rng.choice(ratios)} for end in ends]
            trigger["bands"].append({"ratio": rng.choice(ratios)})
        if rng.random() < 0.3:
            trigger["warning"] = {"amount": money(rng, 30000)}
    elif details and way < 0.9:
        trigger["fixed_by"] = {"detail": details[0], "amounts": {
            value: money(rng, 8000) for value in rng.sample(["1", "2", "3", "4"], 2)}}
    else:
        trigger["fixed"] = money(rng, 8000)
    caps = {}
    for key in ("per_event", "per_person_year", "per_household_year"):
        if rng.random() < 0.35:
            caps[key] = money(rng, 60000)
    if trigger.get("deductible", {}).get("unit") == "household":
        caps.pop("per_person_year", None)  # the terms refuse it: the loss is no one person's
    if caps:
        trigger["caps"] = caps
    return trigger


def a_spec(rng: random.Random) -> dict:
    kinds = rng.sample(sorted(BUILTIN_EVENT_TYPES), rng.randint(1, 4))
    spec: dict = {"triggers": {kind: a_trigger(rng, kind) for kind in kinds}}
    eligibility = an_eligibility(rng)
    if eligibility is not None:
        spec["eligibility"] = eligibility
    if len(kinds) >= 2 and rng.random() < 0.5:
        shared = rng.sample(kinds, rng.randint(2, len(kinds)))
        cap: dict = {"triggers": shared}
        household_deductible = any(
            spec["triggers"][k].get("deductible", {}).get("unit") == "household"
            for k in shared)
        if not household_deductible and rng.random() < 0.6:
            cap["per_person_year"] = money(rng, 60000)
        if "per_person_year" not in cap or rng.random() < 0.5:
            cap["per_household_year"] = money(rng, 80000)
        spec["shared_caps"] = [cap]
    return spec


def a_household(rng: random.Random) -> dict:
    line = rng.choice([None, "8700.00", "8700.01", "9000.00", "5100.00"])
    income = None
    if rng.random() < 0.9 and line is not None:
        limit = Decimal(rng.choice(MULTIPLES)) * Decimal(line)
        income = str(rng.choice([limit.quantize(Decimal("0.01")),
                                 limit.quantize(Decimal("0.01")) + Decimal("0.01"),
                                 limit.quantize(Decimal("0.01")) - Decimal("0.01"),
                                 Decimal(rng.randint(-2000, 20000))]))
    contract = rng.random() < 0.5
    return {
        "household_type": rng.choice(TYPES),
        "monitoring_category": rng.choice([*CATEGORIES[:3], None]),
        "per_capita_income": income, "monitoring_line": line,
        "flags": rng.sample(FLAGS, rng.randint(0, 2)),
        "covered_from": date(YEAR, rng.randint(1, 3), 1) if contract else None,
        "covered_to": date(YEAR, 12, rng.randint(1, 31)) if contract else None,
    }


def some_events(rng: random.Random, spec: dict) -> list[dict]:
    kinds = list(spec["triggers"])
    events = []
    for number in range(rng.randint(1, 8)):
        # now and then an event the terms do not cover
        kind = rng.choice(kinds if rng.random() < 0.9 else sorted(BUILTIN_EVENT_TYPES))
        scale = rng.choice([1000, 30000, 300000])
        events.append({
            "event_id": f"e{number:02d}", "type": kind,
            "event_date": date(YEAR, 1, 1) + timedelta(days=rng.randint(-10, 370)),
            "id_number": rng.choice(PEOPLE),
            "amounts": {a: money(rng, scale) for a in BUILTIN_EVENT_TYPES[kind]["amounts"]
                        if rng.random() < 0.8},
            "details": {d: rng.choice(["1", "2", "3", "4"])
                        for d in BUILTIN_EVENT_TYPES[kind]["details"][:1]},
        })
        if rng.random() < 0.3:  # the same day again: the event id decides the order
            events[-1]["event_date"] = events[0]["event_date"]
    return events


def engine(spec: dict, household: dict, events: list[dict]):
    terms = parse_terms(toml_of(spec))
    snapshot = HouseholdSnapshot(**{
        **household, "flags": frozenset(household["flags"]),
        "per_capita_income": None if household["per_capita_income"] is None
        else Decimal(household["per_capita_income"]),
        "monitoring_line": None if household["monitoring_line"] is None
        else Decimal(household["monitoring_line"])})
    return calculate(terms, snapshot, [
        TriggerEvent(e["event_id"], e["type"], e["event_date"], e["id_number"],
                     {k: Decimal(v).quantize(Decimal("0.01")) for k, v in e["amounts"].items()},
                     e["details"]) for e in events])


NOTHING_PAID = {"not_covered", "household_type", "monitoring_category", "flag_missing",
                "income_unknown", "income_above_limit", "income_not_below_limit",
                "not_eligible", "outside_coverage", "waiting_period", "no_loss",
                "below_deductible", "no_entitlement", "no_amount"}


def check(seed: int) -> None:
    rng = random.Random(seed)
    spec, household = a_spec(rng), a_household(rng)
    events = some_events(rng, spec)
    quote = engine(spec, household, events)
    expected = reference_payouts(spec, household, events, YEAR)
    where = f"seed {seed}: {toml_of(spec)}\nhousehold {household}\nevents {events}"
    for result in quote.events:
        assert (result.payout, result.reason) == expected[result.event_id], \
            f"{result.event_id}: {where}"
        # a reason never contradicts the amount paid
        if result.reason in NOTHING_PAID:
            assert result.payout == 0, where
        else:
            assert result.payout > 0 or result.reason == "cap_reached", where
        trigger = spec["triggers"].get(result.trigger, {})
        cap = trigger.get("caps", {}).get("per_event")
        if cap is not None:
            assert result.payout <= Decimal(cap), where
        if "base" in trigger and result.base == 0:
            assert result.payout == 0, where
        assert sum((line.amount for line in result.trace if line.amount is not None),
                   Decimal(0)) == result.payout, where
    assert quote.entitled == sum((r.payout for r in quote.events), Decimal(0))


@pytest.mark.parametrize("block", range(10))
def test_the_engine_agrees_with_the_reference_calculator(block):
    for seed in range(block, CASES, 10):
        check(seed)


def test_every_generated_case_uses_what_it_should():
    """The generator reaches every kind of term the comparison is meant to cover."""
    seen: set[str] = set()
    for seed in range(min(CASES, 400)):
        rng = random.Random(seed)
        spec = a_spec(rng)
        for trigger in spec["triggers"].values():
            seen.update(trigger)
            seen.update(f"cap:{c}" for c in trigger.get("caps", {}))
            seen.update(f"per:{trigger['deductible']['per']}" for _ in [0]
                        if "deductible" in trigger)
        seen.update(f"elig:{k}" for k in spec.get("eligibility", {}))
        seen.update("shared" for _ in spec.get("shared_caps", ()))
    assert {"base", "bands", "fixed", "fixed_by", "cap:per_event", "cap:per_person_year",
            "cap:per_household_year", "per:year", "per:event", "shared", "elig:any_of",
            "elig:all_of", "elig:max_income_multiple", "elig:per_capita_income",
            "elig:flags", "elig:waiting_days"} <= seen


def without_per_event_rules(spec: dict) -> dict:
    """The same terms with every per-event deductible made yearly and per-event caps gone."""
    triggers = {}
    for kind, trigger in spec["triggers"].items():
        trigger = dict(trigger)
        if "deductible" in trigger:
            trigger["deductible"] = {**trigger["deductible"], "per": "year"}
        caps = {k: v for k, v in trigger.get("caps", {}).items() if k != "per_event"}
        trigger.pop("caps", None)
        if caps:
            trigger["caps"] = caps
        triggers[kind] = trigger
    return {**spec, "triggers": triggers}


@pytest.mark.parametrize("block", range(4))
def test_splitting_a_bill_never_changes_the_total_without_per_event_rules(block):
    """docs/terms.md: the invariant holds where no per-event deductible or cap applies (and
    fails where one does: without the first line, this test fails)."""
    for seed in range(block, CASES // 2, 4):
        rng = random.Random(seed)
        spec, household = without_per_event_rules(a_spec(rng)), a_household(rng)
        events = some_events(rng, spec)
        whole = engine(spec, household, events)
        for index, event in enumerate(events):
            trigger = spec["triggers"].get(event["type"], {})
            if "base" not in trigger:
                continue
            first = trigger["base"]["add"][0]
            amounts = {k: Decimal(v) for k, v in event["amounts"].items()}
            loss = (sum((amounts.get(a, Decimal(0)) for a in trigger["base"]["add"]), Decimal(0))
                    - sum((amounts.get(a, Decimal(0)) for a in trigger["base"]["subtract"]),
                          Decimal(0)))
            part = min(loss, amounts.get(first, Decimal(0))).quantize(Decimal("0.01"))
            if part <= 0:
                continue
            part = (part * Decimal(rng.randint(1, 99)) / 100).quantize(Decimal("0.01"))
            rest = {**event["amounts"], first: str(amounts[first] - part)}
            pieces = [*events[:index],
                      {**event, "event_id": event["event_id"] + "a", "amounts": {first: str(part)}},
                      {**event, "event_id": event["event_id"] + "b", "amounts": rest},
                      *events[index + 1:]]
            split = engine(spec, household, pieces)
            assert split.entitled == whole.entitled, f"seed {seed}, event {index}"
            break


def test_a_claims_stored_calculation_is_the_plain_json_of_each_result():
    """The evaluator writes each result and trace line two levels deep by hand
    (claims.intake._results); the general reading, audit.jsonable, over generated quotes."""
    from types import SimpleNamespace

    from claims import audit, intake

    for seed in range(200):
        rng = random.Random(seed)
        spec, household = a_spec(rng), a_household(rng)
        quote = engine(spec, household, some_events(rng, spec))
        by_key = {r.event_id: SimpleNamespace(source_event_id=f"src-{r.event_id}",
                                              type=r.trigger) for r in quote.events}
        for trigger in {r.trigger for r in quote.events}:
            assert intake._results(quote, by_key, trigger) == [
                audit.jsonable(r.__dict__ | {"event_id": f"src-{r.event_id}",
                                             "trace": [t.__dict__ for t in r.trace]})
                for r in quote.events if r.trigger == trigger]
