"""The payout notice's amount in Chinese capitals (大写金额, claims.printed.amount_in_capitals):
the published examples of 《正确填写票据和结算凭证的基本规定》 written as the rules' first form,
and a second opinion: a reader of capitals written here on its own reads every generated amount
from 0.01 to 99,999,999.99 back to the same figure, with the rules' shape (one 零 for a run of
zeros, never before a unit, 壹拾 for ten, 整 exactly when there are no 分)."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from claims.printed import amount_in_capitals

PUBLISHED = {  # the rules' examples (the rules let 整 after 角 be left out; the brief writes it)
    "1409.50": "人民币壹仟肆佰零玖元伍角整",
    "6007.14": "人民币陆仟零柒元壹角肆分",
    "1680.32": "人民币壹仟陆佰捌拾元零叁角贰分",
    "107000.53": "人民币壹拾万柒仟元零伍角叁分",
    "16409.02": "人民币壹万陆仟肆佰零玖元零贰分",
    "325.04": "人民币叁佰贰拾伍元零肆分",
    "12345.60": "人民币壹万贰仟叁佰肆拾伍元陆角整",
}
EDGES = {
    "0.00": "人民币零元整",
    "0.01": "人民币壹分",
    "0.50": "人民币伍角整",
    "10.00": "人民币壹拾元整",
    "10.05": "人民币壹拾元零伍分",
    "1010.00": "人民币壹仟零壹拾元整",
    "7500.00": "人民币柒仟伍佰元整",
    "100000000.00": "人民币壹亿元整",
    "100010000.00": "人民币壹亿零壹万元整",  # a whole group of zeros: one 零
    "100000500.00": "人民币壹亿零伍佰元整",
    "120005000.00": "人民币壹亿贰仟万伍仟元整",  # zero in the 万 place before a thousand
    "99999999.99": "人民币玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分",
}
DIGITS = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
PLACES = {"拾": 10, "佰": 100, "仟": 1000}


def read_capitals(text: str) -> Decimal:
    """A capital amount read back, digit by digit, to its figure (refuses what is not one)."""
    assert text.startswith("人民币"), text
    total = section = digit = 0
    jiao = fen = 0
    for char in text[3:].removesuffix("整"):
        if char in DIGITS:
            digit = DIGITS[char]
        elif char in PLACES:
            assert digit, f"{PLACES[char]} without its digit in {text}"
            section, digit = section + digit * PLACES[char], 0
        elif char == "万":
            total, section, digit = total + (section + digit) * 10_000, 0, 0
        elif char == "亿":
            total, section, digit = (total + section + digit) * 100_000_000, 0, 0
        elif char == "元":
            total, section, digit = total + section + digit, 0, 0
        elif char == "角":
            jiao, digit = digit, 0
        elif char == "分":
            fen, digit = digit, 0
        else:
            raise AssertionError(f"{char!r} in {text}")
    assert digit == 0 and section == 0, f"a digit without its unit in {text}"
    return Decimal(total) + Decimal(jiao) / 10 + Decimal(fen) / 100


def amounts() -> list[Decimal]:
    """Every pattern of zeros over the ten places of 0.01-99,999,999.99 (each place 0 or 5,
    then 0 or 1), and 20,000 at random."""
    chosen = {int(f"{n:010b}".replace("1", digit)) for n in range(1, 1024) for digit in "51"}
    rng = random.Random(18)
    chosen |= {rng.randint(1, 9_999_999_999) for _ in range(20_000)}
    return [Decimal(fen) / 100 for fen in sorted(chosen)]


@pytest.mark.parametrize(("figure", "words"), [*PUBLISHED.items(), *EDGES.items()])
def test_known_amounts(figure, words):
    assert amount_in_capitals(Decimal(figure)) == words
    assert read_capitals(words) == Decimal(figure)


def test_every_generated_amount_reads_back_with_the_rules_shape():
    for amount in amounts():
        words = amount_in_capitals(amount)
        assert read_capitals(words) == amount, (amount, words)
        body = words.removeprefix("人民币")
        assert "零零" not in body and not body.startswith("零"), words
        assert not re.search("零[拾佰仟万亿元角分整]", body), words
        assert body.endswith("整") == (amount % Decimal("0.1") == 0), words
        assert not re.search("(^|[^壹贰叁肆伍陆柒捌玖])拾", body), words


@pytest.mark.parametrize("amount", ["-0.01", "0.001", "1000000000000.00"])
def test_what_is_not_an_amount_of_money_is_refused(amount):
    with pytest.raises(ValueError, match="whole fen"):
        amount_in_capitals(Decimal(amount))
