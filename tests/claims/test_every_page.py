"""Every page of the workspace, as every role, in Chinese and in English: no text of the other
language.

The pages are taken from the application's route table (not a list kept by hand), filled with
the rows of test_access's two-township world (claims paid, in notice, rejected), read as each
staff role would see them, and so are the pages they link to, a missing row's error page and
the files a page exports (a link's or a GET form's ?export=, a .xlsx or .pdf address; a file
is read by the first role that may open it). What a reader sees is read whole: the text, the
labels a phone table shows beside each cell (data-label), placeholders, titles, accessible
names, a workbook's cells and sheet name, a CSV, a PDF's text. In Chinese no Latin word may
show outside an allowlist of IDs, codes and units; in English no Chinese character (nor
full-width punctuation) may show once the data legitimately in Chinese is taken out: the
values this world stored in the columns that hold names, places, free text typed by staff and
the terms' own text, read back from the database. FANGPIN_TEST_EVERY_PAGE=all walks the
township-limited users and every link with a query (filters, pages, tabs) as well."""

from __future__ import annotations

import csv
import html as markup
import io
import os
import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import openpyxl
import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import select

from claims import catastrophes, clock, intake, masking
from claims.auth import SYSTEM
from claims.documents.models import Document
from claims.models import (
    ApiClient,
    AppUser,
    AuditEntry,
    Catastrophe,
    Claim,
    ClaimRecord,
    EarlyWarning,
    Payment,
    TriggerEvent,
)
from claims.web.i18n import warning_text
from claims.web.pages import HERE_COOKIE
from policies import calculator
from policies.models import Household, Member, PolicyContract, Region, TermsVersion
from risk import scoring
from risk.models import Elimination, EliminationStep, FollowUp
from tests.claims.test_access import _walkers, _world, page_form_takes, page_posts, routes
from tests.claims.test_lifecycle import bank_confirms, days_pass, export_batch

ALL = os.environ.get("FANGPIN_TEST_EVERY_PAGE") == "all"

# Identifiers, codes and units a Chinese page may show in Latin letters: household, claim,
# batch and event numbers, file formats and their makers' names, a file's SHA-256, the users'
# own names in this test's world, terms' keys (nanzhang-2026) and the county's own title
# ("演示 demo").
ALLOWED = re.compile(r"H[A-Z]?\d+|LP\d+|PB-?\w+|FPB-[\w-]+|Q-\d+|XLSX|PDF|CSV|TOML|Excel|English|"
                     r"demo|[a-z]+-20\d\d|SHA-256(?: [0-9a-f]{64})?|MB|BMP|GIF|HEIC|JPEG|PNG|"
                     r"TIFF|WebP|Word|PowerPoint|OpenDocument|png|jpe?g|pdf|xlsx|csv")  # extensions

# Chinese characters and the punctuation written with them (，。：（） and the like).
CHINESE = re.compile(r"[\u2e80-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")

# The columns whose values are Chinese in either language: people's, places', banks' and
# departments' names, what staff typed (a claim's reason, its records, a withdrawal's, a
# warning's or a follow-up's note), file names, the terms' own title and text, and a
# catastrophe's name and the emergency department's reference.
DATA = (Region.name, Member.name, AppUser.full_name, ApiClient.name, PolicyContract.insurer,
        Household.bank_name, Payment.bank_name, Payment.account_holder,
        TermsVersion.title, TermsVersion.county, TermsVersion.source_text,
        Claim.application_reason, Claim.rejection_text, ClaimRecord.data, AuditEntry.reason,
        EarlyWarning.outcome, Document.filename, Document.withdrawn_reason,
        FollowUp.outcome_note, Elimination.note, EliminationStep.data, Catastrophe.name,
        Catastrophe.reference)

# What a reader sees besides an element's text: a phone table's cell labels, accessible names,
# placeholders, titles, images' descriptions, and a button's value.
SEEN_ATTRIBUTES = re.compile(r'\s(?:data-label|aria-label|placeholder|title|alt)="([^"]*)"')
BUTTON_VALUE = re.compile(
    r'^<input\b(?=[^>]*\stype="(?:submit|button|reset)")[^>]*\svalue="([^"]*)"')

# A link's query asking for a file to download.
EXPORT = re.compile(r"(^|&)(export|format)=")


def html_text(page: str) -> str:
    title = re.search(r"<title>(.*?)</title>", page, flags=re.S)
    body = page[page.find("<body"):]
    # code, scripts and styles aside: a file's column names are shown as they must be written
    body = re.sub(r"<(script|style|code)\b.*?</\1>", " ", body, flags=re.S)
    # hidden inputs carry codes for the server, not words for the reader
    body = re.sub(r'<input\b[^>]*type="hidden"[^>]*>', " ", body)
    tags = re.findall(r"<[^>]+>", body)
    seen = [m[1] for tag in tags for pattern in (SEEN_ATTRIBUTES, BUTTON_VALUE)
            for m in pattern.finditer(tag)]
    text = re.sub(r"<[^>]+>", " ", body)
    return markup.unescape(" ".join([title[1] if title else "", text, *seen]))


def visible_text(answer) -> str | None:
    """What the reader of an answer sees, whatever its kind (None: nothing to read)."""
    kind = answer.headers.get("content-type", "")
    if "text/html" in kind:
        return html_text(answer.text)
    if "spreadsheetml" in kind:
        book = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True)
        return "\n".join([*book.sheetnames, *(
            str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
            for cell in row if cell is not None)])
    if "text/csv" in kind:
        return "\n".join(" ".join(row) for row in csv.reader(
            io.StringIO(answer.content.decode("utf-8-sig"))))
    if "application/pdf" in kind:
        return "\n".join(page.extract_text() for page in PdfReader(
            io.BytesIO(answer.content)).pages)
    return None


def latin_words(text: str, people: set[str]) -> set[str]:
    """Latin words a Chinese reader would not expect (IDs, codes, units and names aside)."""
    words = set(re.findall(r"[A-Za-z][A-Za-z_0-9-]+(?:[ _][a-z][a-z_0-9]+)*", text))
    return {w for w in words if not ALLOWED.fullmatch(w) and w not in people}


def data_values(session) -> list[str]:
    """The Chinese this world stored in DATA's columns (a value of several lines line by
    line, a member's name masked too) and the language switch's 中文, longest first (a name
    inside a longer note goes with the note)."""
    def strings(value) -> list[str]:
        if isinstance(value, dict):
            return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if CHINESE.search(line)]
        return []

    found = {s for column in DATA for value in session.exec(select(column))
             for s in strings(value)}
    found |= {masking.name(name) for name in session.exec(select(Member.name))}  # 张*三
    return sorted(found | {"中文"}, key=len, reverse=True)


def chinese_words(text: str, data: list[str]) -> set[str]:
    """Chinese an English reader sees that is not one of the world's data values."""
    text = " ".join(text.split())
    for value in data:
        text = text.replace(" ".join(value.split()), " ")
    return set(CHINESE.findall(text))


def _seed_claims(session, world: dict, walkers: list) -> None:
    """Claims in the states whose pages print the most, through the API as staff take the
    steps: claim A paid (survey, review, notice, approval, a bank's confirmation), claim B in
    its public notice with an objection, a third claim rejected, a fourth waiting for its
    approval; household A's risk elimination checked at home and reviewed; and an early
    warning an event raised, in the calculator's words as intake stores them."""
    staff = {w.name: w.client for w in walkers if w.role and not w.limited}

    def act(role: str, claim_id: int, action: str, data: dict | None = None) -> None:
        answer = staff[role].post(f"/api/claims/{claim_id}/actions/{action}", json=data)
        assert answer.status_code == 200, answer.text

    for t in ("A", "B"):
        act("investigator", world[f"claim_id_{t}"], "start_investigation")
        act("investigator", world[f"claim_id_{t}"], "submit_survey", {
            "visit_date": str(clock.county_today()), "team": ["王查勘", "李查勘"],
            "findings": "住院属实", "asset_check": {"bank_deposits": "存款约两千元",
                                                     "车辆": "一辆旧摩托"}})
        act("clerk", world[f"claim_id_{t}"], "record_review", {
            "outcome": "agree", "representatives": ["代表甲", "代表乙"], "notes": "一致同意"})
        days_pass(session, session.get(Claim, world[f"claim_id_{t}"]), 8)
    act("clerk", world["claim_id_B"], "start_notice")
    act("clerk", world["claim_id_B"], "record_objection", {"text": "邻居认为费用偏高",
                                                           "upheld": False})
    act("clerk", world["claim_id_A"], "start_notice",
        {"start_date": str(clock.county_today() - timedelta(days=7))})
    act("clerk", world["claim_id_A"], "close_notice")
    session.get(Claim, world["claim_id_A"]).entitled = Decimal("8000.00")
    session.commit()
    act("supervisor", world["claim_id_A"], "approve", {"amount": "7500.00", "note": "按条款赔付"})
    bank_confirms(staff["supervisor"], export_batch(staff["supervisor"]))
    rejected = intake.apply(session, SYSTEM, world["household_id_A"], "accident", "摔伤")
    waiting = intake.apply(session, SYSTEM, world["household_id_B"], "accident", "骨折")
    session.commit()
    act("adjudicator", rejected.id, "reject", {"code": "not_eligible", "text": "收入高于监测线"})
    act("investigator", waiting.id, "start_investigation")
    act("investigator", waiting.id, "submit_survey", {
        "visit_date": str(clock.county_today()), "team": ["王查勘", "李查勘"],
        "findings": "骨折属实", "asset_check": {"housing": "砖混平房"}})
    act("clerk", waiting.id, "record_review", {"outcome": "agree", "representatives": ["代表丙"]})
    days_pass(session, waiting, 8)
    act("clerk", waiting.id, "start_notice",
        {"start_date": str(clock.county_today() - timedelta(days=7))})
    act("clerk", waiting.id, "close_notice")  # now waiting for its approval
    for kind, data in (("home_check", {
            "visit_date": str(clock.county_today()), "team": ["王干部", "李干部"],
            "findings": "务工收入稳定", "housing_secure": True, "schooling_secure": True,
            "medical_secure": True, "water_secure": True}),
            ("democratic_review", {"outcome": "agree", "representatives": ["代表丁"],
                                   "notes": "同意消除"})):
        answer = staff["clerk"].post(f"/api/monitoring/households/{world['household_id_A']}"
                                     f"/elimination/steps/{kind}", json=data)
        assert answer.status_code == 201, answer.text
    session.add(EarlyWarning(household_id=world["household_id_A"], trigger="illness",
                             source="event", text=calculator.WARNINGS["person"] % {
                                 "trigger": "illness", "after": "60,000.00",
                                 "threshold": "50,000.00"}))
    # a flood's loss report on claim A: the catastrophe's pages list its figures and village
    claim = session.get(Claim, world["claim_id_A"])
    session.add(TriggerEvent(client_id=world["client_id"], source_event_id="Q-2",
                             payload_hash="0", payload={"details": {}}, type="disaster",
                             event_date=clock.county_today(), status="accepted",
                             household_id=claim.household_id, contract_id=claim.contract_id,
                             claim_id=claim.id))
    session.flush()
    catastrophes.tag(session, None)
    session.commit()


def _links(url: str, page: str) -> list[str]:
    """The pages a page links to (another claim's, a batch's, a printed document), and the
    files its links and GET forms' buttons export; every link with a query (filters, pages)
    under ALL. The language switch and signing out aside."""
    found = [markup.unescape(link) for link in re.findall(r'href="(/[^"#]*)"', page)]
    for attributes, form in re.findall(r"<form\b([^>]*)>(.*?)</form>", page, flags=re.S):
        if 'method="post"' not in attributes.lower():
            action = re.search(r'action="([^"]*)"', attributes)
            found += [f"{markup.unescape(action[1]) if action else url.split('?')[0]}?{n}={v}"
                      for n, v in re.findall(r'<button\b[^>]*name="(\w+)"[^>]*value="(\w+)"',
                                             form)]
    return [link for link in found if not urlsplit(link).path.startswith(
        ("/static", "/api", "/logout", "/language")) and (
        not urlsplit(link).query or EXPORT.search(urlsplit(link).query) or ALL)]


def _posted_forms(page: str) -> list[tuple[str, list[str]]]:
    """Each form a page posts: its address and the names of its fields (inputs, choices, text
    areas and named buttons, as a browser sends them)."""
    return [(markup.unescape(action[1]), re.findall(
                r'<(?:input|select|textarea|button)\b[^>]*\bname="([^"]+)"', form))
            for attributes, form in re.findall(r"<form\b([^>]*)>(.*?)</form>", page, flags=re.S)
            if 'method="post"' in attributes.lower()
            and (action := re.search(r'action="([^"]*)"', attributes))]


def _url(path: str, world: dict) -> str:
    values = {**world, **{k.removesuffix("_A"): v for k, v in world.items() if k.endswith("_A")}}
    return re.sub(r"{(\w+)}", lambda m: str(values[m[1]]), path)


def test_every_page_as_every_role_is_in_the_reader_s_language(app, session):
    world = _world(session)
    everyone = _walkers(app, session, world)
    _seed_claims(session, world, everyone)
    walkers = [w for w in everyone if w.role and (ALL or not w.limited)]
    people = {w.name for w in everyone}  # the world's users are named by their roles
    data = data_values(session)
    pages = [path for method, path in routes(app) if method == "GET" and not path.startswith(
        "/api") and path not in ("/docs", "/openapi.json", "/language/{language}")]
    # each page of a row, and of a row that is not there: the error page is read too
    missing = {re.sub(r"{\w*_id}", "0", path) for path in pages} - set(pages)
    queue = [_url(path, world) for path in [*pages, *sorted(missing)]]
    seen = set(queue)
    found: dict[tuple[str, str], set[str]] = {}
    downloaded: set[tuple[str, str]] = set()
    unknown: dict[str, set[str]] = {}
    read = forms = 0
    while queue:
        url = queue.pop(0)
        for walker in walkers:
            for language in ("zh", "en"):
                if (url, language) in downloaded:
                    continue
                walker.client.cookies.set("fangpin_lang", language)
                answer = walker.client.get(url, follow_redirects=False)
                if answer.status_code == 200 and "text/html" not in answer.headers.get(
                        "content-type", ""):
                    downloaded.add((url, language))  # a file: the first staff role reads it
                text = visible_text(answer)
                if text is None:
                    continue  # a redirection, a photo
                read += 1
                words = (latin_words(text, people) if language == "zh"
                         else chinese_words(text, data))
                if words:
                    found.setdefault((language, url), set()).update(words)
                if "text/html" not in answer.headers["content-type"]:
                    continue
                for action, names in _posted_forms(answer.text):
                    takes = page_form_takes(app, action)
                    forms += 1
                    unread = [n for n in names if takes is None or not takes(n)]
                    if unread:  # the page would refuse its own form
                        unknown.setdefault(action, set()).update(unread)
                for link in _links(url, answer.text):
                    if link not in seen:
                        seen.add(link)
                        queue.append(link)
    for (language, url), words in sorted(found.items()):
        print(language, url, sorted(words))
    assert read > 100
    assert not found
    assert forms > 20 and not unknown, f"fields their pages do not read: {unknown}"


def test_a_risk_warning_stored_in_chinese_reads_in_english():
    """The risk engine's three texts (a score reached, reached since a lower one, a rise),
    stored in Chinese, read in English from their values and in Chinese as stored."""
    for trigger, previous in ((scoring.HIGH, None), (scoring.HIGH, 0.42), (scoring.RISE, 0.42)):
        stored = scoring.warning_text(trigger, 0.81, previous, 0.5)
        english = warning_text(stored, "en")
        assert not CHINESE.search(english) and "0.81" in english, english
        assert warning_text(stored, "zh") == stored
    assert warning_text(scoring.warning_text(scoring.RISE, 0.81, 0.42, 0.5), "en") == (
        "Risk of falling back rose from 0.42 to 0.81")


# What a form's fields hold when they are wrong: days in the future or before the start,
# amounts below zero, rows that are not there, words of one letter or not one of the choices.
JUNK = {
    **dict.fromkeys(("visit_date", "start_date", "given_on", "eliminated_on", "period_start",
                     "since"), "2999-01-01"),
    **dict.fromkeys(("end_date", "period_end", "until"), "1900-01-01"),
    **dict.fromkeys(("amount", "premium_per_person", "fixed_amount", "multiple",
                     "approval_limit", "insurer_fee_rate", "balance_carried_in",
                     "insured_headcount", "policy_year", "year", "standard_year", "min_score",
                     "latitude"), "-1"),
    **dict.fromkeys(("county_id", "region_id", "contract_id", "investigator_id", "claim_id",
                     "user_id", "client_id", "warning_id", "regions", "townships", "claim"),
                    "999999"),
    **dict.fromkeys(("note", "reason", "text", "team", "findings", "representatives", "notes",
                     "name", "full_name", "username", "helper", "description", "insurer",
                     "contract_number", "reference", "key", "id_number", "q", "holder",
                     "documents", "asset_check"), "x"),
    **dict.fromkeys(("kind", "outcome", "way", "status", "code", "role", "organisation",
                     "insured_basis", "trigger", "document_type", "doc_type", "event_types"),
                    "x"),
}
# A file of bad rows: an import answers with its table of bad values, the terms page with
# what is wrong with the file, the bank's answer with its lines.
BAD_FILE = "户编号,起始日期,截止日期,工资性收入\nH9999,2026-01-01,2026-13-45,-5\nH0001,,,1.234\n"


def test_every_forms_answer_to_bad_input_is_in_the_reader_s_language(app, session):
    """Each form handler of the route table, sent an empty form and one of wrong values (and a
    file of bad rows), by every staff role in both languages: the refusal, the import's table
    of bad values, or the page it answers with, read as the GET walk reads a page."""
    world = _world(session)
    everyone = _walkers(app, session, world)
    _seed_claims(session, world, everyone)
    walkers = [w for w in everyone if w.role and not w.limited]
    people = {w.name for w in everyone}
    data = data_values(session)
    posts = [path for path in page_posts(app) if path != "/logout"]
    urls = [_url(path, world) for path in posts]
    found: dict[tuple[str, str], set[str]] = {}
    refused = set()
    for url in urls:
        takes = page_form_takes(app, url)  # what the form has: any other field is refused
        junk = {name: value for name, value in JUNK.items() if takes(name)}
        files = {name: ("2026.csv", BAD_FILE.encode()) for name in ("file", "files")
                 if takes(name)}
        for walker in walkers:
            for language in ("zh", "en"):
                walker.client.cookies.set("fangpin_lang", language)
                for fields in ({}, junk):
                    answer = walker.client.post(
                        url, data={**fields, "csrf_token": walker.csrf}, files=files,
                        follow_redirects=False)
                    assert answer.status_code < 500, (url, walker.name, answer.text[-2000:])
                    if "text/html" not in answer.headers.get("content-type", ""):
                        continue  # a redirection (the change was made), the bank's file
                    text = visible_text(answer)
                    if answer.status_code >= 400:
                        refused.add(url)
                    words = (latin_words(text, people) if language == "zh"
                             else chinese_words(text, data))
                    if words:
                        found.setdefault((language, url), set()).update(words)
    for (language, url), words in sorted(found.items()):
        print(language, url, sorted(words))
    assert len(refused) > len(posts) * 0.8  # most forms refused the bad input somewhere
    assert not found


def test_no_page_a_link_from_another_site_opens_puts_anything_on_the_trail(app, session):
    """Every page of the route table, as every staff role, asked for by a link from another
    site (Sec-Fetch-Site: cross-site), and the household search by a name: the audit trail
    gains nothing. A link in a mail had opened a printed notice, a document or a search for
    people in a user's name; such a page now asks first (claims.web.pages.came_from_here)."""
    world = _world(session)
    everyone = _walkers(app, session, world)
    _seed_claims(session, world, everyone)
    walkers = [w for w in everyone if w.role]
    pages = [path for method, path in routes(app) if method == "GET" and not path.startswith(
        "/api") and path not in ("/docs", "/openapi.json", "/language/{language}")]
    name = session.exec(select(Member.name)).first()
    urls = [*(_url(path, world) for path in pages), f"/households?q={name[-1]}"]
    trail = select(sa.func.count(AuditEntry.id))
    before = session.exec(trail).one()
    asked = 0
    for url in urls:
        for walker in walkers:
            answer = walker.client.get(url, follow_redirects=False,
                                       headers={"Sec-Fetch-Site": "cross-site"})
            asked += "打开此页面" in answer.text or "Open this page" in answer.text
            # over plain HTTP to an address other than localhost Chromium sends no
            # Sec-Fetch-Site, and a link can drop its Referer: the strict cookie is not sent
            walker.client.cookies.delete(HERE_COOKIE)
            walker.client.get(url, follow_redirects=False)
            walker.client.cookies.set(HERE_COOKIE, "1")
    # nor does signing in from a link to /login?next=… open such a page in the user's name
    signed = walkers[0].client.get("/households?q=" + name[-1], follow_redirects=False,
                                   headers={"Referer": "http://testserver/login?next=x"})
    assert "打开此页面" in signed.text or "Open this page" in signed.text
    session.expire_all()
    assert session.exec(trail).one() == before
    assert asked >= len(walkers)  # the search and the notices were asked about, not opened
    # a session without the strict cookie (signed in before it was given) is asked once: the
    # page that asks gives it, and "Open" then opens the page
    walkers[0].client.cookies.delete(HERE_COOKIE)
    url = "/households?q=" + name[-1]
    assert "Open this page" in walkers[0].client.get(url).text
    opened = walkers[0].client.get(url, headers={"Sec-Fetch-Site": "same-origin"})
    assert "Open this page" not in opened.text and "打开此页面" not in opened.text
