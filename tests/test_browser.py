"""Browser tests: Playwright driving Debian's Chromium against a real server (SQLite only).

Each role works in its own browser context, as seven students on seven computers would."""
import os
import re
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from lab import create_app
from lab.extensions import db

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("REQUIRE_BROWSER") == "1"

pytestmark = [pytest.mark.browser]
if not CHROMIUM:
    pytestmark.append(pytest.mark.skipif(not REQUIRED, reason=(
        "Chromium is not installed (apt-get install chromium); scripts/test.sh installs it")))

ROLES = ("mall_admin", "buyer", "supplier", "warehouse", "finance", "purchasing", "logistics")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM:
        pytest.fail("Chromium is required (CI=true or REQUIRE_BROWSER=1) but not installed")
    path = tmp_path_factory.mktemp("browser")
    os.environ["ECOMLAB_INSTANCE"] = str(path / "instance")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path / 'lab.sqlite'}",
                      "SECRET_KEY": "browser-test", "POLL_SECONDS": 1})
    with app.app_context():
        db.create_all()
        from tests.helpers import make_user, start_run
        users = {role: make_user(f"web-{role}") for role in ROLES}
        run = start_run("b2c-normal", seats={r: [u.id] for r, u in users.items()})
        run_id = run.id
        db.session.remove()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"base": f"http://127.0.0.1:{httpd.server_port}", "run": run_id, "app": app}
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


def logged_in(browser, server, username, lang="en-US"):
    context = browser.new_context(locale=lang, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server["base"] + "/auth/login")
    page.fill("#username", username)
    page.fill("#password", "pw123456")
    page.click("main button[type=submit]")
    return page


def open_console(browser, server, role):
    page = logged_in(browser, server, f"web-{role}")
    page.goto(f"{server['base']}/run/{server['run']}/{role}/")
    return page


def press(page, action):
    """Press the first ready button of this action in the inbox (the engine does the rest)."""
    page.click(f"#inbox form[action$='/act/{action}'] button[type=submit]")
    page.wait_for_selector(".alert-success")


def test_an_order_travels_through_seven_browsers(browser, server):
    pages = {role: open_console(browser, server, role) for role in
             ("buyer", "supplier", "finance", "warehouse", "logistics")}
    buyer = pages["buyer"]
    buyer.fill("#qty-TEA-250", "2")
    buyer.click(".product[data-sku='TEA-250'] button[type=submit]")
    assert "176.00" in buyer.inner_text("#cart-total")
    buyer.select_option("#checkout-payment", "bank_transfer")
    buyer.click("#checkout")
    buyer.wait_for_selector(".alert-success")

    # Sales sees the new order without reloading (live poll, within 3 seconds).
    sales = pages["supplier"]
    sales.wait_for_selector("#inbox form[action$='/act/accept_order']", timeout=3000)
    press(sales, "accept_order")

    buyer.wait_for_selector("#inbox form[action$='/act/pay_order']", timeout=3000)
    press(buyer, "pay_order")
    assert "19,824.00" in buyer.inner_text("#buyer-balance")

    finance = pages["finance"]
    finance.wait_for_selector("#inbox form[action$='/act/confirm_payment']", timeout=3000)
    press(finance, "confirm_payment")

    warehouse = pages["warehouse"]
    warehouse.wait_for_selector("#inbox form[action$='/act/ship_order']", timeout=3000)
    press(warehouse, "ship_order")
    assert warehouse.inner_text("#stock tr[data-sku='TEA-250'] .stock") == "98"

    logistics = pages["logistics"]
    logistics.wait_for_selector("#inbox form[action$='/act/deliver_order']", timeout=3000)
    press(logistics, "deliver_order")

    buyer.wait_for_selector("#inbox form[action$='/act/confirm_receipt']", timeout=3000)
    press(buyer, "confirm_receipt")
    buyer.wait_for_selector("#orders .state-received")

    # Shipping again from a stale page is refused and ships nothing more.
    with server["app"].app_context():
        from lab.models import Product
        assert db.session.scalar(db.select(Product.stock).where(Product.sku == "TEA-250")) == 98
    for page in pages.values():
        page.context.close()


def test_the_console_fits_a_phone(browser, server):
    page = logged_in(browser, server, "web-buyer", "zh-CN")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server['base']}/run/{server['run']}/buyer/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    assert page.is_visible("#shop") and page.is_visible("#inbox")
    page.context.close()


def guided_play(page, base, scenario, password="harbour-2026"):
    """Play a practice run as a learner who only follows the guide: switch to the role it
    names, then press the button (or fill the form) its step describes."""
    page.goto(base + "/practice/")
    page.click(f"form:has(input[name=scenario][value={scenario}]) button[type=submit]")
    for _ in range(60):
        page.wait_for_load_state()
        if page.locator("#guide a[href*='/done']").count():
            return True
        step = page.locator("#guide .guide-step").first
        action = step.get_attribute("data-action")
        if step.locator("div .badge.bg-secondary").count():  # a bot's step: the lab plays it
            page.wait_for_timeout(2500)  # on the page's next poll
            page.reload()
            continue
        if step.locator("a.switch-to").count():
            step.locator("a.switch-to").click()
            continue
        if action == "place_order":
            qty = re.search(r"(\d+)", step.inner_text().split("\n", 1)[1]).group(1)
            sku = page.locator(".product").first.get_attribute("data-sku")
            page.fill(f"#qty-{sku}", qty)
            page.click(f".product[data-sku='{sku}'] button[type=submit]")
            page.wait_for_load_state()
            page.click("#checkout")
        elif action == "request_certificate":
            page.fill("#cert-pw", password)
            page.fill("#cert-pw2", password)
            page.click("#certificate button[type=submit]")
        else:
            form = page.locator(f"#inbox form[action$='/act/{action}']").first
            form.wait_for(timeout=5000)
            if form.locator("input[name=password]").count():
                form.locator("input[name=password]").fill(password)
            form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert not page.locator("#action-error").count(), page.inner_text("#action-error")
    return False


@pytest.fixture(scope="module")
def learner(server):
    with server["app"].app_context():
        from tests.helpers import make_user
        make_user("web-learner")
        db.session.remove()
    return "web-learner"


@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_a_self_learner_finishes_out_of_stock_with_only_the_guide(browser, server, learner,
                                                                    lang):
    page = logged_in(browser, server, learner, lang)
    assert guided_play(page, server["base"], "b2c-out-of-stock")
    page.click("#guide a[href*='/done']")
    assert page.inner_text("#score") == "90 / 90"
    page.context.close()


def test_b2b_contract_is_signed_and_prints_with_a_verified_signature(browser, server, learner):
    page = logged_in(browser, server, learner)
    assert guided_play(page, server["base"], "b2b-normal")
    page.goto(page.url.split("/practice")[0] + "/practice/")
    run_id = re.search(r"/run/(\d+)/", page.content()).group(1)
    page.goto(f"{server['base']}/run/{run_id}/buyer/")
    page.click("#b2b-title ~ ul a:has-text('HT-0001')")
    assert page.is_visible("#verified")
    assert page.inner_text("#total") == "¥15,000.00"
    page.emulate_media(media="print")
    assert not page.is_visible("nav")
    page.goto(f"{server['base']}/run/{run_id}/buyer/")
    page.click("#b2b-title ~ ul a:has-text('FP-0001')")
    assert page.inner_text("#tax") == "1,725.66" and page.inner_text("#net") == "13,274.34"
    page.context.close()


def test_an_instructor_runs_a_class_from_one_console(browser, server, tmp_path):
    """Roster XLSX → 8 groups → b2c-out-of-stock for all → a student plays while the board
    watches → inject a stock loss → stop → export XLSX grades → open and print a lab report."""
    from openpyxl import Workbook, load_workbook
    with server["app"].app_context():
        from tests.helpers import make_user
        make_user("web-teacher", is_instructor=True)
        db.session.remove()
    book = Workbook()
    book.active.append(["学号", "姓名"])
    for i in range(1, 41):
        book.active.append([f"3026{i:04d}", f"学生{i}"])
    roster = tmp_path / "roster.xlsx"
    book.save(roster)

    teacher = logged_in(browser, server, "web-teacher")
    teacher.fill("#class-name", "电商三班")
    teacher.click("form[action$='/classroom/new'] button[type=submit]")
    teacher.set_input_files("#roster-file", str(roster))
    teacher.click("form[action$='/roster'] button[type=submit]")
    assert "40 new students" in teacher.inner_text(".alert-success")
    teacher.fill("#g-size", "5")
    teacher.click("form[action$='/groups'] button[type=submit]")
    assert teacher.locator("#groups .card").count() == 8
    teacher.select_option("#a-scenario", "b2c-out-of-stock")
    teacher.click("form[action$='/assign'] button[type=submit]")
    teacher.click("button:has-text('Start all')")
    assert teacher.locator("#board-table tbody tr").count() == 8

    with server["app"].app_context():
        from lab.models import Classroom, Enrollment, Group, Run, Seat, User
        group = db.session.scalar(db.select(Group).join(Classroom).where(
            Classroom.name == "电商三班", Group.number == 1))
        run = db.session.scalar(db.select(Run).where(Run.group_id == group.id))
        seat = db.session.scalar(db.select(Seat).where(Seat.run_id == run.id,
                                                       Seat.role == "buyer"))
        buyer = db.session.get(User, seat.user_id)
        password = db.session.scalar(db.select(Enrollment.initial_password).where(
            Enrollment.user_id == buyer.id))
        username, run_id, student_id = buyer.username, run.id, buyer.id
        db.session.remove()
    student = browser.new_context(locale="zh-CN").new_page()
    student.goto(server["base"] + "/auth/login")
    student.fill("#username", username)
    student.fill("#password", password)
    student.click("main button[type=submit]")
    # A roster's account: the first login asks for a password of the student's own.
    student.wait_for_selector("#first-login")
    student.fill("#current", password)
    student.fill("#password", "my-own-pw1")
    student.fill("#confirm", "my-own-pw1")
    student.click("main button[type=submit]")
    student.click(f"a[href='/run/{run_id}/buyer/']")
    student.fill("#qty-TEA-250", "120")
    student.click(".product[data-sku='TEA-250'] button[type=submit]")
    student.click("#checkout")
    student.wait_for_selector(".alert-success")

    row = "#board-table tr[data-group='1'] .progress-text"
    # A function, not an expression: the page's CSP forbids the eval() an expression needs.
    teacher.wait_for_function(f"() => document.querySelector(\"{row}\").textContent === '1/12'",
                              timeout=10000)
    inject = "form:has(input[value=inject_stock_loss])"
    teacher.select_option(f"{inject} select[name=run]", str(run_id))
    teacher.fill(f"{inject} input[name=sku]", "TEA-250")
    teacher.fill(f"{inject} input[name=qty]", "10")
    teacher.click(f"{inject} button[type=submit]")
    assert "Injected into 1 runs" in teacher.inner_text(".alert-success")
    teacher.click("button:has-text('Stop all')")  # the box is not ticked: nothing happens
    assert teacher.locator("#board-table .badge.bg-success").count() == 8
    teacher.check("#stop-all-confirm")
    teacher.click("button:has-text('Stop all')")
    assert "8 runs changed" in teacher.inner_text(".alert-success")

    teacher.click("a:has-text('Grades')")
    with teacher.expect_download() as download:
        teacher.click("a:has-text('Export XLSX')")
    assert download.value.suggested_filename.endswith(".xlsx")
    download.value.save_as(tmp_path / "grades.xlsx")
    rows = list(load_workbook(tmp_path / "grades.xlsx").active.iter_rows(values_only=True))
    header = list(rows[1])
    mine = next(r for r in rows[2:] if r[header.index("student_no")] == username)
    assert mine[header.index("points")] == 5 and mine[header.index("group_score")] == 5
    teacher.goto(f"{server['base']}/classroom/run/{run_id}/replay")
    # start, the order, the injection, stop
    assert teacher.locator(".replay-row").count() == 4
    assert teacher.locator(".replay-row.table-warning").count() == 1
    assert teacher.locator(".replay-row.replay-clock").all_inner_texts()[0].endswith(
        "Started by Web-Teacher")
    teacher.goto(f"{server['base']}/classroom/run/{run_id}/report/{student_id}")
    report = teacher.inner_text("#report")
    assert "Place order" in report and "电商三班" not in report  # the steps, not the class page
    teacher.emulate_media(media="print")
    assert not teacher.is_visible("nav") and teacher.is_visible("#report")
    student.context.close()
    teacher.context.close()
