"""Every page, as every staff role, on a phone and through axe-core (issue 17 item 4, issue 18
item 4's survey form at 390 px).

The pages are taken from the application's route table (not a list kept by hand: a page
added later is walked too), their path parameters filled from the site's database. Each page
is opened in Chromium at 390 x 844 and must not scroll sideways (tables scroll inside their
own container; forms stack: no field outside a table reaches past the screen's edge, which a
form in a card that scrolls would), then seen by axe-core (bundled in axe-playwright-python,
nothing downloaded) at 390 and at 1280 x 800 and must have no serious or critical
violation, nor scroll sideways at 1280 either. Every failure of every page and role is
named in one message. In Chinese on SQLite, in English on PostgreSQL.

Its size: by default every page as every role on SQLite, axe once for each different page a
path shows (its forms and links differ by role) on the phone and once for each path at the
desk, 60-90 s; on PostgreSQL every page once, as
the first staff role that may open it, 15-25 s. FANGPIN_TEST_EVERY_PAGE=all walks every
page as every role through axe on both databases (about a minute each).
"""

from __future__ import annotations

import os
import re
from decimal import Decimal

from axe_playwright_python.sync_playwright import Axe
from sqlmodel import Session, select

from claims import catastrophes, clock, intake, lifecycle, monitoring
from claims.app import create_app
from claims.auth import SYSTEM, actor_for_user
from claims.models import (
    ApiClient,
    AppUser,
    Catastrophe,
    Claim,
    Household,
    MonitoringLine,
    PaymentBatch,
    Region,
    TriggerEvent,
)
from policies.models import PolicyContract
from risk.models import MonitoringWindow
from tests.browser.test_workspace import (  # noqa: F401 (fixtures)
    SHOTS,
    STAFF,
    chromium,
    claim_of,
    csp_violations,
    sign_in,
    site,
)
from tests.claims.test_access import routes

ALL = os.environ.get("FANGPIN_TEST_EVERY_PAGE") == "all"
PHONE = {"width": 390, "height": 844}
# an office's laptop: the contracts page was 1,378 px wide at 1280 in English (a browser walk)
DESK = {"width": 1280, "height": 800}
# Not pages: the API and its documentation, the language switch (it redirects), files, the
# icon.
NOT_PAGES = re.compile(r"/api(/|$)|/docs$|/openapi\.json$|/language/|/healthz$|"
                       r"/documents/|\.(pdf|xlsx|csv|ico)$|/download$")
SERIOUS = ("serious", "critical")
# Two frames after a resize: the page's scripts have seen it (scroll.js marks the boxes).
SETTLED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
# What a page holds that may differ by role: its forms' fields and buttons, its links.
SHAPE = """() => [...document.querySelectorAll('main form, main a, main input, main select,'
    + ' main textarea, main button')].map(e => e.tagName + (e.name || e.getAttribute('href')
    || e.getAttribute('action') || '')).join(' ')"""
CUT_FIELDS = """() => [...document.querySelectorAll(
        'main input, main select, main textarea, main button')]
    .filter(e => !e.closest('table') && e.type !== 'hidden' && e.offsetParent !== null
                 && e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .map(e => e.name || e.id || e.textContent.trim()).slice(0, 5)"""
# With FANGPIN_SCREENSHOTS=DIR: these pages on the phone, as the investigator (the claim page
# then carries the survey form), saved as DIR/phone-NAME.png (docs/ keeps them); a page too
# wide is saved as DIR/phone-wide-PATH-ROLE.png.
SHOWN = {"/claims/{claim_id}": "claim", "/households/{household_id}": "household",
         "/monitoring/households/{household_id}": "monitoring", "/claims": "claims",
         "/monitoring/outcomes": "outcomes"}


def pages(app) -> list[str]:
    """Every GET page path of the app's route table, once."""
    seen: list[str] = []
    for method, path in routes(app):
        if method == "GET" and not NOT_PAGES.search(path) and path not in seen:
            seen.append(path)
    return seen


def the_world(engine) -> dict[str, int]:
    """The values the pages' path parameters take: the site's claim, put under investigation
    (so its page carries the survey form), its household (watched after the payout, so it
    has a monitoring page), a payment batch, the county's contract and monitoring line; and
    for the printed notices two more claims of the household, one rejected, one approved (its
    state set: the walk is about the page)."""
    with Session(engine) as session:
        claim = session.exec(select(Claim).order_by(Claim.id)).first()
        as_user = {u.username: actor_for_user(u) for u in session.exec(select(AppUser))}
        if claim.state == "opened":
            lifecycle.transition(session, claim, "start_investigation",
                                 as_user["investigator"], data={})
            rejected = intake.apply(session, SYSTEM, claim.household_id, "accident", "摔伤")
            lifecycle.transition(session, rejected, "reject", as_user["adjudicator"],
                                 data={"code": "below_deductible", "text": "自付部分未超过起付线"})
            approved = intake.apply(session, SYSTEM, claim.household_id, "disaster", "房屋受灾")
            approved.state, approved.approved_amount = "payment_pending", Decimal("7500")
        if session.exec(select(MonitoringWindow)).first() is None:  # the household's page
            monitoring.open_or_extend(session, claim, clock.county_today())
        flood = session.exec(select(Catastrophe)).first()
        if flood is None:  # a flood over the claim's township, its report on the claim
            village = session.get(Household, claim.household_id).village_id
            flood = catastrophes.declare(session, as_user["clerk"], catastrophes.CatastropheIn(
                name="七月洪涝", kind="flood", regions=[session.get(Region, village).parent_id],
                start_date=clock.county_today(), reference="豫应急〔2026〕12号"))
            session.add(TriggerEvent(
                client_id=session.exec(select(ApiClient.id)).first(), source_event_id="Q-9",
                payload_hash="0", payload={"details": {}}, type="disaster",
                event_date=clock.county_today(), status="accepted", household_id=claim.household_id,
                contract_id=claim.contract_id, claim_id=claim.id))
            session.flush()
            catastrophes.tag(session, None)
        batch = session.exec(select(PaymentBatch)).first()
        if batch is None:
            batch = PaymentBatch(batch_number="PB2026010100001")
            session.add(batch)
        session.commit()
        by_state = {c.state: c.id for c in session.exec(select(Claim))}
        return {"claim_id": claim.id, "household_id": claim.household_id,
                "batch_id": batch.id, "rejected": by_state["rejected"],
                "approved": by_state["payment_pending"], "catastrophe_id": flood.id,
                "contract_id": session.exec(select(PolicyContract.id)).first(),
                "line_id": session.exec(select(MonitoringLine.id)).first()}


def fill(path: str, world: dict[str, int]) -> str:
    """The path with its parameters taken from the world (a notice of the claim it is for)."""
    claim = ("rejected" if path.endswith("/rejection-notice") else
             "approved" if path.endswith("/payout-notice") else "claim_id")
    return re.sub(r"{(\w+)}", lambda m: str(world[claim if m[1] == "claim_id" else m[1]]),
                  path)


def test_every_page_fits_a_phone_and_has_no_serious_accessibility_violation(
        site, sign_in, request):  # noqa: F811
    _base, engine = site
    world = the_world(engine)
    on_postgresql = engine.dialect.name == "postgresql"
    every_role = ALL or not on_postgresql
    language = "en" if on_postgresql else "zh"  # English words are longer: both are walked
    axe = Axe()
    urls: list[tuple[str, str]] = []
    unfilled: list[str] = []
    for path in pages(create_app()):
        names = re.findall(r"{(\w+)}", path)
        if any(n not in world for n in names):
            unfilled.append(path)
            continue
        urls.append((path, fill(path, world)))
    assert not unfilled, f"no value for these pages' parameters (add it to the_world): {unfilled}"

    wide: list[str] = []
    violations: list[str] = []
    opened: set[str] = set()
    signed_in: dict[str, object] = {}
    axed: set[tuple[str, str]] = set()
    desk_axed: set[str] = set()
    for path, url in urls:
        for role in STAFF:
            if path in opened and not every_role:
                break  # the short walk: each page once, as the first role that may open it
            page = signed_in.get(role) or signed_in.setdefault(role, sign_in(role, language))
            page.set_viewport_size(PHONE)
            answer = page.goto(url)
            if answer is None or answer.status != 200 or "text/html" not in answer.headers.get(
                    "content-type", ""):
                continue  # not this role's page (refused or sent elsewhere)
            opened.add(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > page.evaluate("window.innerWidth"):
                wide.append(f"{path} as {role}: {width}px")
                if SHOTS:
                    name = re.sub(r"\W+", "-", path.strip("/")) or "root"
                    page.screenshot(path=f"{SHOTS}/phone-wide-{name}-{role}.png",
                                    full_page=True)
            # a form in a box that scrolls (a card) would pass the page's test: its fields,
            # outside tables, must each be within the screen
            cut = page.evaluate(CUT_FIELDS)
            if cut:
                wide.append(f"{path} as {role}: fields past the screen's edge {cut}")
            if SHOTS and role == "investigator" and path in SHOWN:
                page.screenshot(path=f"{SHOTS}/phone-{SHOWN[path]}.png", full_page=True)
            # axe once for each different page a role sees at this path (its forms and links
            # differ by role); every time under FANGPIN_TEST_EVERY_PAGE=all
            seen = (path, page.evaluate(SHAPE))
            if seen in axed and not ALL:
                continue
            axed.add(seen)
            for size in (PHONE, DESK):  # a box scrolls on the phone, not on the desk
                page.set_viewport_size(size)
                page.evaluate(SETTLED)
                width = page.evaluate("document.documentElement.scrollWidth")
                if size is DESK and width > DESK["width"]:
                    wide.append(f"{path} as {role} at {DESK['width']} px: {width}px")
                if size is DESK:
                    if path in desk_axed and not ALL:
                        continue  # what a role's forms change, the phone's pass has seen
                    desk_axed.add(path)
                for v in axe.run(page).response["violations"]:
                    if v["impact"] in SERIOUS:
                        where = "; ".join(n["target"][0] if isinstance(n["target"][0], str)
                                          else str(n["target"]) for n in v["nodes"][:3])
                        violations.append(f"{path} as {role} at {size['width']} px: {v['id']} "
                                          f"({v['impact']}) {where}")
    unseen = [path for path, _url in urls if path not in opened]
    assert not unseen, f"pages no role could open: {unseen}"
    assert not wide and not violations, (
        "pages wider than a 390 px phone or a 1280 px desk:\n" + "\n".join(wide)
        + "\nserious or critical accessibility violations (axe-core):\n" + "\n".join(violations))
