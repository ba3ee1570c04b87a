"""Terms files: what an official writes, and the mistakes the validator catches."""

from pathlib import Path

import pytest

from policies.terms import InvalidTerms, parse_terms

HEAD = '''
[policy]
title = "测试县防贫保险 2026"
county = "测试县"
policy_year = 2026
'''
ILLNESS = '''
[triggers.illness]
base = { add = ["total_cost"], subtract = ["basic_insurance_paid"] }
deductible = { amount = "5000" }
bands = [{ up_to = "10000", ratio = "0.3" }, { ratio = "0.9" }]
'''


def problems(text):
    with pytest.raises(InvalidTerms) as caught:
        parse_terms(text, "county.toml")
    return [(p.path, p.reason) for p in caught.value.problems]


def test_a_valid_file_reads_into_terms():
    terms = parse_terms(HEAD + ILLNESS, "county.toml")
    assert terms.policy.policy_year == 2026
    illness = terms.triggers["illness"]
    assert [str(b.ratio) for b in illness.bands] == ["0.3", "0.9"]
    assert str(illness.deductible.amount) == "5000.00"
    assert illness.deductible.per == "year" and illness.deductible.unit == "person"


def test_misspelt_keys_are_errors_with_their_path():
    found = problems(HEAD + ILLNESS.replace("deductible", "deductable"))
    assert ("triggers.illness.deductable", "unknown key (misspelt?)") in found
    found = problems(HEAD + ILLNESS + 'caps = { per_persn_year = "1" }\n')
    assert ("triggers.illness.caps.per_persn_year", "unknown key (misspelt?)") in found


@pytest.mark.parametrize(
    ("bands", "reason"),
    [
        ('[{ up_to = "10000", ratio = "0.3" }, { up_to = "8000", ratio = "0.5" }]',
         "not above the previous band's end"),
        ('[{ up_to = "10000", ratio = "0.3" }, { up_to = "10000", ratio = "0.5" }]',
         "not above the previous band's end"),
        ('[{ ratio = "0.3" }, { up_to = "20000", ratio = "0.5" }]', "is not the last band"),
    ],
)
def test_bands_out_of_order_or_overlapping_are_refused(bands, reason):
    text = HEAD + ILLNESS.replace(
        'bands = [{ up_to = "10000", ratio = "0.3" }, { ratio = "0.9" }]', f"bands = {bands}")
    [(path, message)] = problems(text)
    assert path == "triggers.illness.bands" and reason in message


def test_ratios_outside_zero_to_one_and_negative_caps_are_refused():
    found = problems(HEAD + ILLNESS.replace('"0.9"', '"1.2"'))
    assert found[0][0] == "triggers.illness.bands[1].ratio"
    found = problems(HEAD + ILLNESS + 'caps = { per_event = "-5" }\n')
    assert found[0][0] == "triggers.illness.caps.per_event"
    assert "greater than or equal to 0" in found[0][1]


def test_the_monitoring_after_a_payout_is_set_in_the_terms_or_left_at_the_defaults():
    default = parse_terms(HEAD + ILLNESS).monitoring
    assert (default.window_months, default.report_every_months, default.stable_months) == (
        12, 3, 6)
    monitoring = '\n[monitoring]\nwindow_months = 18\nreport_every_months = 1\n'
    terms = parse_terms(HEAD + ILLNESS + monitoring)
    assert (terms.monitoring.window_months, terms.monitoring.report_every_months) == (18, 1)
    found = problems(HEAD + ILLNESS + '\n[monitoring]\nwindow_months = 0\ndrop_share = "1"\n')
    assert [path for path, _ in found] == ["monitoring.window_months", "monitoring.drop_share"]


def test_missing_parts_are_named():
    found = problems(HEAD)
    assert ("triggers", "Field required") in found
    found = problems(ILLNESS)
    assert ("policy", "Field required") in found
    found = problems(HEAD + "[triggers.illness]\n")
    assert found[0][0] == "triggers.illness" and "exactly one of base" in found[0][1]


def test_unknown_trigger_types_and_amounts_are_refused_with_what_is_known():
    [(path, reason)] = problems(HEAD + '[triggers.flood]\nfixed = "100"\n')
    assert path == "triggers.flood" and "unknown trigger type 'flood'" in reason
    assert "[event_types.NAME]" in reason
    [(path, reason)] = problems(HEAD + ILLNESS.replace("basic_insurance_paid", "basic_paid"))
    assert path == "triggers.illness.base.subtract" and "basic_insurance_paid" in reason


def test_a_new_kind_of_shock_is_declared_in_the_file_not_in_code():
    text = HEAD + '''
[event_types.livestock_epidemic]
amounts = ["animals_lost_value", "compensation_paid"]

[triggers.livestock_epidemic]
base = { add = ["animals_lost_value"], subtract = ["compensation_paid"] }
bands = [{ ratio = "0.4" }]
'''
    terms = parse_terms(text)
    assert "livestock_epidemic" in terms.triggers
    assert problems(text.replace("[event_types.livestock_epidemic]", "[event_types.illness]"))


def test_shared_caps_name_real_triggers_and_a_cap():
    found = problems(HEAD + ILLNESS + '[[shared_caps]]\ntriggers = ["illness", "accident"]\n'
                     'per_household_year = "1000"\n')
    assert found == [("shared_caps[0].triggers", "'accident' is not a trigger of these terms")]
    found = problems(HEAD + ILLNESS + '[triggers.disability]\nfixed = "100"\n'
                     '[[shared_caps]]\ntriggers = ["illness", "disability"]\n')
    assert "needs per_person_year or per_household_year" in found[0][1]
    found = problems(HEAD + ILLNESS + '[[shared_caps]]\ntriggers = ["illness", "illness"]\n'
                     'per_household_year = "1000"\n')
    assert found == [("shared_caps[0].triggers", "'illness' is listed twice")]


def test_broken_toml_says_where():
    [(path, reason)] = problems(HEAD + "[triggers.illness\n")
    assert path == "" and "not valid TOML" in reason and "line" in reason


def test_terms_nested_too_deeply_are_refused_not_a_server_error():
    [(path, reason)] = problems(HEAD + "x = " + "[" * 3000 + "]" * 3000 + "\n")
    assert path == "" and reason == "not valid TOML: nested too deeply"


def test_every_shipped_terms_file_is_valid():
    folder = Path(__file__).resolve().parents[2] / "policies" / "county_terms"
    files = sorted(folder.glob("*.toml"))
    assert len(files) >= 8
    for file in files:
        parse_terms(file.read_text(encoding="utf-8"), file.name)


def test_the_annotated_example_in_the_documentation_is_valid():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "terms.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n")[1].split("```")[0]
    terms = parse_terms(example, "docs/terms.md")
    assert set(terms.triggers) == {"illness", "disability", "education", "liability"}
    assert terms.notice_days == 7


@pytest.mark.parametrize(
    ("snippet", "path", "reason"),
    [
        ('base = { add = ["total_cost", "total_cost"] }\n', "triggers.illness.base.add",
         "listed twice"),
        ('base = { add = ["total_cost"], subtract = ["total_cost"] }\n',
         "triggers.illness.base", "both added and subtracted"),
        ('base = { add = ["total_cost"] }\nbands = [{ up_to = "100", ratio = "1" }]\n',
         "triggers.illness.bands", "last band (band 1) must have no up_to"),
        ('base = { add = ["total_cost"] }\nbands = [{ ratio = 0.3 }]\n',
         "triggers.illness.bands[0].ratio", "as a decimal string"),
        ('base = { add = ["total_cost"] }\ncaps = { per_event = 1e3 }\n',
         "triggers.illness.caps.per_event", "as a decimal string"),
        ('base = { add = ["total_cost"] }\ndeductible = { amount = "1", unit = "household" }\n'
         'caps = { per_person_year = "100" }\n', "triggers.illness",
         "household deductible cannot go with a per-person cap"),
    ],
)
def test_ambiguous_or_inexact_terms_are_refused(snippet, path, reason):
    found = problems(HEAD + "[triggers.illness]\n" + snippet)
    assert any(p == path and reason in r for p, r in found), found


def test_types_are_not_guessed():
    found = problems(HEAD.replace("policy_year = 2026", 'policy_year = "2026"') + ILLNESS)
    assert found[0][0] == "policy.policy_year"
    found = problems(HEAD + "[eligibility]\nwaiting_days = true\nhousehold_types = []\n"
                     + ILLNESS)
    assert {p for p, _ in found} == {"eligibility.waiting_days", "eligibility.household_types"}


def test_every_reference_mistake_is_reported_at_once_at_its_place():
    found = problems(HEAD + '[event_types.illness]\namounts = ["x"]\n'
                     '[triggers.flood]\nfixed = "1"\n[triggers.storm]\nfixed = "1"\n')
    assert [p for p, _ in found] == ["event_types.illness", "triggers.flood", "triggers.storm"]


def test_the_documented_eligibility_patterns_are_valid_and_mean_what_they_say():
    from datetime import date
    from decimal import Decimal as D

    from policies.calculator import HouseholdSnapshot, TriggerEvent, calculate

    doc = (Path(__file__).resolve().parents[2] / "docs" / "terms.md").read_text(encoding="utf-8")
    patterns = [block.split("```")[0] for block in doc.split("```toml\n")[2:]]
    assert len(patterns) == 3
    head = '[policy]\ntitle = "t"\ncounty = "c"\npolicy_year = 2026\n'
    trigger = '\n[triggers.accident]\nbase = { add = ["cost"] }\n'
    either, flags_or_wait, hardship = (parse_terms(head + p + trigger) for p in patterns)

    def paid(terms, household, day=date(2026, 1, 10)):
        event = TriggerEvent("a", "accident", day, None, {"cost": D("100")})
        return calculate(terms, household, [event]).events[0].reason

    rich = HouseholdSnapshot("ordinary", None, D("20000"), D("8700"))
    assert paid(either, rich) == "not_eligible"
    assert paid(either, HouseholdSnapshot("ordinary", "marginal", D("20000"), D("8700"))) is None
    assert paid(flags_or_wait, rich) == "not_eligible"  # no flag, and still waiting
    assert paid(flags_or_wait, HouseholdSnapshot("ordinary", flags=frozenset({"tekun"}))) is None
    assert paid(flags_or_wait, rich, date(2026, 2, 1)) is None
    assert paid(hardship, HouseholdSnapshot("ordinary", "sudden_hardship", D("20000"),
                                            D("8700"))) is None
    assert paid(hardship, HouseholdSnapshot("lifted_out", None, D("13050"), D("8700"))) is None
    assert paid(hardship, HouseholdSnapshot("ordinary", None, D("13050"), D("8700"))) is not None


@pytest.mark.parametrize(("snippet", "path", "reason"), [
    ('[[eligibility.any_of]]\nhousehold_type = ["lifted_out"]\n', "eligibility.any_of[0]",
     "unknown key"),
    ('[[eligibility.any_of]]\n', "eligibility.any_of[0]", "an empty condition"),
    ('[eligibility]\nper_capita_income = { below = "1.5", at_most = "1.5" }\n',
     "eligibility.per_capita_income", "give one of below"),
    ('[eligibility]\nper_capita_income = { below = 1.5 }\n',
     "eligibility.per_capita_income.below", "decimal string"),
    ('[eligibility]\nflags = ["低保"]\n', "eligibility.flags[0]", "dibao"),
    ('[eligibility]\nflags = ["disability"]\n', "eligibility.flags[0]", "disabled_member"),
])
def test_eligibility_rules_are_validated_like_every_key(snippet, path, reason):
    head = '[policy]\ntitle = "t"\ncounty = "c"\npolicy_year = 2026\n'
    with pytest.raises(InvalidTerms) as refused:
        parse_terms(head + snippet + '\n[triggers.accident]\nbase = { add = ["cost"] }\n')
    problems = [(p.path, p.reason) for p in refused.value.problems]
    assert any(p.startswith(path) and reason in r for p, r in problems), problems
