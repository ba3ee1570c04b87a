"""Every page of the workspace, as every role, in Chinese: no untranslated text.

The pages are taken from the application's route table (not a list kept by hand), filled with
the rows of test_access's two-township world, and read as each staff role would see them."""

from __future__ import annotations

import html as markup
import re

from sqlmodel import select

from claims import clock, lifecycle
from claims.auth import actor_for_user
from claims.models import AppUser, Claim, EarlyWarning
from policies import calculator
from tests.claims.test_access import _walkers, _world, routes

# Identifiers, codes and units a Chinese page may show in Latin letters: household, claim,
# batch and event numbers, file formats and their makers' names, a file's SHA-256, the users'
# own names in this test's world, the test terms' key and the county's own title ("演示 demo").
ALLOWED = re.compile(r"H[A-Z]?\d+|LP\d+|PB-\w+|FPB-[\w-]+|Q-\d+|XLSX|PDF|CSV|TOML|Excel|English|"
                     r"demo|SHA-256(?: [0-9a-f]{64})?|MB|BMP|GIF|HEIC|JPEG|PNG|TIFF|WebP|Word|"
                     r"PowerPoint|OpenDocument|png|jpe?g|pdf")  # and files' extensions


def visible_words(page: str) -> set[str]:
    body = page[page.find("<body"):]
    # code, scripts and styles aside: a file's column names are shown as they must be written
    body = re.sub(r"<(script|style|code)\b.*?</\1>", " ", body, flags=re.S)
    text = markup.unescape(re.sub(r"<[^>]+>", " ", body))
    return set(re.findall(r"[A-Za-z][A-Za-z_0-9-]+(?:[ _][a-z][a-z_0-9]+)*", text))


def test_every_page_as_every_role_is_in_chinese(app, session):
    world = _world(session)
    everyone = _walkers(app, session, world)
    # claim A with its records: a survey, a review, a notice (the pages print what they hold)
    claim = session.get(Claim, world["claim_id_A"])
    as_role = {u.username: actor_for_user(u) for u in session.exec(select(AppUser))}
    for action, role, data in (
            ("start_investigation", "investigator", {}),
            ("submit_survey", "investigator", {
                "visit_date": str(clock.county_today()), "team": ["王查勘", "李查勘"],
                "findings": "住院属实", "asset_check": {"bank_deposits": "无", "车辆": "无"}}),
            ("record_review", "clerk", {"outcome": "agree", "representatives": ["代表甲"]}),
            ("start_notice", "clerk", {})):
        lifecycle.transition(session, claim, action, as_role[role], data=data)
    # an early warning an event raised, in the calculator's words as intake stores them
    session.add(EarlyWarning(household_id=claim.household_id, trigger="illness",
                             source="event", text=calculator.WARNINGS["person"] % {
                                 "trigger": "illness", "after": "60,000.00",
                                 "threshold": "50,000.00"}))
    session.commit()
    walkers = [w for w in everyone if w.role and not w.limited]
    people = {w.name for w in everyone}  # the world's users are named by their roles
    for walker in walkers:
        walker.client.cookies = {**dict(walker.client.cookies), "fangpin_lang": "zh"}
    found: dict[str, set[str]] = {}
    for method, path in routes(app):
        if method != "GET" or path.startswith("/api") or path in (
                "/docs", "/openapi.json", "/language/{language}"):  # that one switches it
            continue
        url = re.sub(r"{(\w+)}", lambda m: str({**world, **{
            k.removesuffix("_A"): v for k, v in world.items() if k.endswith("_A")}}[m[1]]),
                     path)
        for walker in walkers:
            answer = walker.client.get(url, follow_redirects=False)
            if answer.status_code != 200 or "text/html" not in answer.headers.get(
                    "content-type", ""):
                continue
            words = {w for w in visible_words(answer.text)
                     if not ALLOWED.fullmatch(w) and w not in people}
            if words:
                found.setdefault(path, set()).update(words)
    for path, words in sorted(found.items()):
        print(path, sorted(words))
    assert not found
