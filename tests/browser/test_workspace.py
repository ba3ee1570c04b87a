"""The web workspace in a real browser (Debian's Chromium driven by Playwright): staff of each
role sign in, a claim is taken through its forms to paid with a supervisor's second
approval, a step not theirs is refused, the language switches. On SQLite and PostgreSQL.

Without /usr/bin/chromium these tests are skipped and the run says so at the end, unless
FANGPIN_REQUIRE_BROWSER=1 (as .ci/run sets it), which makes the skip a failure. With
FANGPIN_SCREENSHOTS=DIR they also save the screenshots the README shows.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from claims import clock, monitoring
from claims.app import create_app
from claims.auth import SYSTEM
from claims.db import get_session, make_engine, sessions_on
from claims.migrate import upgrade
from claims.models import Claim, ClaimRecord
from claims.people import create_user
from claims.web.session import set_password
from risk.models import FollowUp, MonitoringWindow
from tests.claims.conftest import DEPARTMENT_KEY, build_county, evaluate
from tests.claims.test_intake import illness
from tests.conftest import database_url, forget_process_state

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE = os.environ.get("FANGPIN_REQUIRE_BROWSER") == "1"
SHOTS = os.environ.get("FANGPIN_SCREENSHOTS")
PASSWORD = "correct horse battery"
STAFF = {"clerk": None, "investigator": None, "adjudicator": Decimal("5000"),
         "supervisor": Decimal("100000"), "auditor": None, "admin": None}

if not CHROMIUM.exists():
    if REQUIRE:
        pytest.fail("browser tests need /usr/bin/chromium (apt-get install chromium "
                    "chromium-driver); FANGPIN_REQUIRE_BROWSER=1", pytrace=False)
    pytest.skip("no /usr/bin/chromium: the browser tests did not run", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, tmp_path_factory):
    """The service on a free port over a county with one claim and a user of each role."""
    for url in database_url(request.param, tmp_path_factory, "browser"):
        # Set up before any test's own fixtures: a department key the process remembers from
        # an earlier test's database would name another database's department here.
        forget_process_state()
        upgrade(url)
        engine = make_engine(url, pool_size=5)
        app = create_app()
        app.dependency_overrides[get_session] = sessions_on(lambda bound=engine: bound)
        with Session(engine) as session:
            build_county(session)
            for role, limit in STAFF.items():
                user, _ = create_user(session, SYSTEM, username=role, full_name=f"{role}者",
                                      role=role, approval_limit=limit)
                set_password(session, SYSTEM, user, PASSWORD)
            session.commit()
        with TestClient(app, headers={"Authorization": f"Bearer {DEPARTMENT_KEY}"}) as api:
            assert api.post("/api/events", json=illness()).status_code == 202
        with Session(engine) as session:
            evaluate(session)
        with serving(app) as base:
            yield base, engine
        engine.dispose()


@contextmanager
def serving(app) -> Iterator[str]:
    """The app on a free local port, in a thread, for as long as the block runs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def investigated_and_reviewed(investigator, clerk, claim: Claim, **assets: str) -> None:
    """The claim's survey (with the asset checks given, by their labels) and its village
    review, through the forms."""
    step(investigator, claim, "start_investigation")
    step(investigator, claim, "submit_survey", {
        "入户日期": clock.county_today().isoformat(),
        "调查人员（至少两人，用逗号分隔）": "王查勘，李查勘",
        "调查结论": "住院属实，家庭困难", **(assets or {"银行存款": "无大额存款", "车辆": "无"})})
    step(clerk, claim, "record_review", {"结果": "agree",
                                         "参加评议的代表（用逗号分隔）": "代表甲，代表乙"})


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def csp_violations():
    """What the browser refused under the Content-Security-Policy (Chromium says so on the
    console); every test's pages must have none."""
    seen: list[str] = []
    yield seen
    assert not seen, f"the pages broke their Content-Security-Policy: {seen}"


def watch_csp(page, seen: list[str]) -> None:
    page.on("console", lambda message: seen.append(message.text)
            if "Content Security Policy" in message.text else None)


@pytest.fixture
def sign_in(site, chromium, csp_violations):
    base, _engine = site
    contexts = []

    def as_role(role: str, language: str = "zh"):
        context = chromium.new_context(base_url=base, viewport={"width": 1366, "height": 768})
        context.add_cookies([{"name": "fangpin_lang", "value": language, "url": base}])
        page = context.new_page()
        watch_csp(page, csp_violations)
        page.goto("/dashboard")
        page.get_by_label("用户名" if language == "zh" else "Username").fill(role)
        page.get_by_label("密码" if language == "zh" else "Password").fill(PASSWORD)
        page.get_by_role("button", name="登录" if language == "zh" else "Sign in").click()
        expect(page).to_have_url(f"{base}/dashboard")
        contexts.append(context)
        return page

    yield as_role
    for context in contexts:
        context.close()


def claim_of(engine) -> Claim:
    with Session(engine) as session:
        return session.exec(select(Claim)).one()


def days_pass(engine, days: int) -> None:
    with Session(engine) as session:
        for record in session.exec(select(ClaimRecord)):
            record.created_at -= timedelta(days=days)
        session.commit()


def step(page, claim: Claim, action: str, fill: dict[str, str] | None = None) -> None:
    """Open the claim, fill the action's form, press its button, and see it done."""
    page.goto(f"/claims/{claim.id}")
    form = page.locator(f'form[action="/claims/{claim.id}/actions/{action}"]')
    for label, value in (fill or {}).items():
        field = form.get_by_label(label)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()  # the form's own, not a helper button
    expect(page.locator(".done")).to_be_visible()


def test_each_role_signs_in_and_sees_its_name(sign_in):
    for role in STAFF:
        page = sign_in(role)
        expect(page.locator("header")).to_contain_text(f"{role}者")
        expect(page.get_by_role("heading", name="工作台")).to_be_visible()


def test_a_claim_from_opened_to_paid_with_a_supervisors_second_approval(site, sign_in,
                                                                       tmp_path):
    base, engine = site
    claim = claim_of(engine)
    investigator, clerk = sign_in("investigator"), sign_in("clerk")
    adjudicator, supervisor = sign_in("adjudicator"), sign_in("supervisor")

    investigated_and_reviewed(investigator, clerk, claim)
    days_pass(engine, 8)
    step(clerk, claim, "start_notice")
    days_pass(engine, 8)
    step(clerk, claim, "close_notice")

    adjudicator.goto(f"/claims/{claim.id}")
    expect(adjudicator.get_by_text("超过您的审批权限")).to_be_visible()
    if SHOTS:
        adjudicator.screenshot(path=f"{SHOTS}/claim.png", full_page=True)
    step(adjudicator, claim, "approve")
    expect(adjudicator.get_by_text("须由主管作第二次审批")).to_be_visible()
    step(supervisor, claim, "approve")
    expect(supervisor.locator("h1 .tag")).to_have_text("待支付")
    assert claim_of(engine).state == "payment_pending"

    # payment: a batch, the bank file, and the bank's answer uploaded
    supervisor.goto("/payments")
    supervisor.get_by_role("button", name="生成新的支付批次").click()
    expect(supervisor.get_by_role("cell", name=claim.claim_number)).to_be_visible()
    with supervisor.expect_download() as download:
        supervisor.get_by_role("button", name="下载（明细标记为已导出）").click()
    bank_file = Path(download.value.path()).read_text(encoding="utf-8-sig")
    payment_id = bank_file.splitlines()[1].split(",")[0]
    answer = tmp_path / "answer.csv"
    answer.write_text(f"payment_id,status,reference\n{payment_id},paid,BANK-0001\n",
                      encoding="utf-8")
    supervisor.get_by_label("文件（CSV 或 Excel），列为："
                            ).set_input_files(str(answer))
    supervisor.get_by_role("button", name="上传").click()
    expect(supervisor.locator(".done")).to_contain_text(f"{payment_id}: 已支付")
    assert claim_of(engine).state == "paid"
    if SHOTS:
        supervisor.goto("/dashboard")
        supervisor.screenshot(path=f"{SHOTS}/dashboard.png", full_page=True)
        supervisor.goto("/claims")
        supervisor.screenshot(path=f"{SHOTS}/queue.png", full_page=True)


def test_a_step_that_is_not_theirs_is_refused(site, sign_in):
    base, engine = site
    claim = claim_of(engine)
    auditor = sign_in("auditor")
    auditor.goto(f"/claims/{claim.id}")
    expect(auditor.get_by_text("此案件当前状态下没有您可办理的事项")).to_be_visible()
    # a form posted anyway (say, from an old tab) is refused, and the claim stays as it was
    before = claim.state
    auditor.evaluate("""([id, action]) => {
        const f = document.createElement('form'); f.method = 'post';
        f.action = `/claims/${id}/actions/${action}`;
        const t = document.createElement('input'); t.name = 'csrf_token';
        t.value = document.querySelector('header input[name=csrf_token]').value;
        const r = document.createElement('input'); r.name = 'reason'; r.value = 'x';
        f.append(t, r); document.body.append(f); f.submit(); }""", [claim.id, "withdraw"])
    expect(auditor.locator(".error")).to_contain_text(
        "您的角色不能办理此步骤：撤案 由理赔审核员、扶贫办业务员、理赔主管办理。")
    assert claim_of(engine).state == before


def test_what_one_user_typed_is_not_shown_to_the_next_in_the_same_tab(site, sign_in):
    """Chromium puts a page's typed values back on going back to it, whoever signed in
    since: a browser walk signed out, signed in as another user in the same tab and found the
    last user's words in a form. Forms that post say autocomplete="off", which keeps
    Chromium from restoring them (a refused form comes back through keep.js instead)."""
    base, _ = site
    page = sign_in("clerk")
    page.goto("/households")
    page.get_by_label("姓名", exact=False).fill("张机密")
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("用户名").fill("investigator")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/work")  # the investigator's own page
    for _ in range(3):
        page.go_back()
        if page.url.endswith("/households"):
            break
    assert page.url.endswith("/households")
    expect(page.get_by_role("button", name="退出")).to_be_visible()  # signed in, as the second
    expect(page.get_by_label("姓名", exact=False)).to_have_value("")


def test_the_language_switch(sign_in):
    page = sign_in("clerk")
    expect(page.get_by_role("link", name="理赔案件")).to_be_visible()
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("link", name="Claims", exact=True)).to_be_visible()
    page.goto("/warnings")
    expect(page.get_by_role("heading", name="Early warnings")).to_be_visible()


def test_the_office_follows_a_paid_household_up_on_the_monitoring_page(site, sign_in):
    base, engine = site
    claim, today = claim_of(engine), clock.county_today()
    with Session(engine) as session:
        if session.exec(select(MonitoringWindow)).first() is None:  # the test run alone
            monitoring.open_or_extend(session, session.get(Claim, claim.id), today)
            session.commit()
    clerk = sign_in("clerk")
    clerk.goto("/monitoring")
    clerk.get_by_role("link", name="H0001").click()
    report = clerk.locator(f'form[action="/monitoring/households/{claim.household_id}/reports"]')
    report.locator("input[name=period_start]").fill(str(today - timedelta(days=89)))
    report.locator("input[name=period_end]").fill(str(today))
    report.locator("input[name=wages]").fill("1500")
    report.get_by_role("button").click()
    expect(clerk.get_by_role("cell", name=str(today), exact=True)).to_be_visible()
    expect(clerk.locator("svg circle").first).to_be_visible()

    monitoring.run_monitoring(engine, today, "test")
    clerk.reload()
    expect(clerk.get_by_text("收入低于监测线")).to_be_visible()
    clerk.get_by_label("帮扶责任人").fill("王帮扶")
    clerk.get_by_role("button", name="指定帮扶责任人").click()
    clerk.get_by_label("帮扶内容").fill("介绍到县城务工")
    clerk.get_by_label("帮扶日期").fill(str(today))
    clerk.get_by_role("button", name="登记帮扶措施").click()
    expect(clerk.get_by_role("cell", name="介绍到县城务工")).to_be_visible()
    if SHOTS:
        clerk.screenshot(path=f"{SHOTS}/monitoring.png", full_page=True)
    clerk.get_by_label("结果").select_option("assisted")
    clerk.get_by_label("备注").first.fill("务工收入恢复")
    clerk.get_by_role("button", name="填写处理结果并关闭").click()
    expect(clerk.get_by_text("帮扶后稳定")).to_be_visible()
    with Session(engine) as session:
        assert session.exec(select(FollowUp)).one().status == "closed"
    clerk.goto("/monitoring/outcomes")
    expect(clerk.get_by_role("heading", name=re.compile("帮扶成效报告"))).to_be_visible()
    if SHOTS:
        clerk.goto("/monitoring")
        clerk.screenshot(path=f"{SHOTS}/monitoring-list.png", full_page=True)


def test_every_page_works_under_the_content_security_policy(site, sign_in, chromium,
                                                             csp_violations):
    base, _engine = site
    admin = sign_in("admin")
    for path in ("/dashboard", "/claims", "/notice", "/payments", "/households", "/warnings",
                 "/monitoring", "/monitoring/outcomes", "/admin"):
        answer = admin.goto(path)
        assert answer.status == 200, path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        # The style sheet (a file now, not inline) is applied.
        assert admin.locator("header").evaluate(
            "e => getComputedStyle(e).display") == "flex", path
    # The API documentation: Swagger UI starts from a script file and lists the operations.
    docs = chromium.new_context(base_url=base).new_page()
    watch_csp(docs, csp_violations)
    docs.goto("/docs")
    expect(docs.locator(".opblock").first).to_be_visible(timeout=15_000)
    expect(docs.get_by_text("/api/households").first).to_be_visible()
    docs.context.close()
    # A page that breaks the policy is caught: the check itself works.
    probe = chromium.new_context(base_url=base).new_page()
    caught: list[str] = []
    watch_csp(probe, caught)
    probe.goto("/login")
    probe.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.ran = 1'; document.body.append(s); }""")
    probe.wait_for_timeout(200)
    assert caught and probe.evaluate("() => window.ran") is None
    probe.context.close()
