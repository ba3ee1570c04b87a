"""The rule of Text (policies.types.text_fault) against a plain reading of it, character by
character, on generated texts: the one-pattern search that lets most texts through at once
must find exactly what the separate checks find, in their order."""

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.types import text_fault

# Characters each check is about, and ordinary ones around them.
SUSPECTS = ["\x00", "\x07", "\x0b", "\x1b", "\x7f", "\x85", "\x9f", "\t", "\n", "\r",
            "\u202a", "\u202e", "\u2066", "\u2069", "\ud800", "\udfff", "\u200b", "\u3000",
            " ", "\u3164", "\u0301", "\u2800"]
TEXTS = st.lists(st.one_of(st.sampled_from(SUSPECTS), st.characters(), st.sampled_from(
    list("禹州市洪涝 Flood-12 "))), max_size=12).map("".join)


def plain_reading(value: str, lines: bool) -> tuple[str, dict[str, str]] | None:
    def first(test) -> tuple[str, dict[str, str]] | None:
        for position, char in enumerate(value, start=1):
            if test(ord(char)):
                return {"char": f"{ord(char):04X}", "position": str(position)}
        return None

    checks = [("control_character", lambda c: c <= 0x08 or c in (0x0B, 0x0C)
               or 0x0E <= c <= 0x1F or 0x7F <= c <= 0x9F),
              ("direction_character", lambda c: 0x202A <= c <= 0x202E or 0x2066 <= c <= 0x2069),
              ("surrogate", lambda c: 0xD800 <= c <= 0xDFFF)]
    if not lines:
        checks.append(("line_break", lambda c: c in (0x09, 0x0A, 0x0D)))
    for code, test in checks:
        found = first(test)
        if found:
            return code, found
    blank = set("\u115f\u1160\u3164\uffa0\u2800")
    if value and all(c.isspace() or c in blank or unicodedata.category(c) in
                     ("Cc", "Cf", "Mn", "Me", "Zs") for c in value):
        return "invisible", {}
    return None


@settings(max_examples=600, deadline=None)
@given(TEXTS, st.booleans())
def test_the_rule_of_text_finds_what_each_check_finds_in_order(value, lines):
    assert text_fault(value, lines=lines) == plain_reading(value, lines)


def test_the_first_check_in_order_is_named_not_the_first_character():
    # a line break comes first, the control character is the fault named first
    assert text_fault("a\nb\x07") == ("control_character", {"char": "0007", "position": "4"})
    assert text_fault("a\nb", lines=True) is None
    assert text_fault("\u200b\u3000") == ("invisible", {})
    assert text_fault("\u200b禹") is None
