"""Browser journey (Playwright driving Debian's Chromium, SQLite only): the demo's seven
students, each in a browser of their own, carry a B2C order from the shop to the confirmed
receipt through the pages, and a console that nobody reloads shows another role's action by
itself within 3 seconds.

The server is the real thing: a thread serving the app with werkzeug on a free port, its SQLite
file migrated and seeded by the same code as `python run.py` (lab.demo.prepare), default
settings (consoles poll every 2 s)."""
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from lab import create_app
from lab.demo import DEMO_PASSWORD, DEMO_STUDENTS
from lab.extensions import db

REQUIRED = os.environ.get("CI") == "true" or os.environ.get("REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if CHROMIUM is None:
        return "Chromium is not installed (apt-get install chromium; scripts/test.sh does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture(scope="module")
def chromium():
    missing = _missing()
    if missing:
        if REQUIRED:
            pytest.fail(f"browser tests are required here (CI=true or REQUIRE_BROWSER=1): "
                        f"{missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The lab served on 127.0.0.1 from a fresh SQLite file holding the demo."""
    from lab.demo import prepare
    from lab.models import Run
    path = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ECOMLAB_INSTANCE", str(path / "instance"))
        env.delenv("DATABASE_URL", raising=False)
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path / 'lab.sqlite'}",
                          "SECRET_KEY": "browser-journey"})
    with app.app_context():
        prepare(app)
        run_id = db.session.scalar(db.select(Run.id).where(Run.kind == "class"))
        db.session.remove()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"base": f"http://127.0.0.1:{httpd.server_port}", "run": run_id, "app": app}
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


def order_state(server) -> tuple:
    from lab.models import Document, Party, Product
    with server["app"].app_context():
        order = db.session.scalar(db.select(Document).where(
            Document.run_id == server["run"], Document.kind == "order"))
        stock = db.session.scalar(db.select(Product.stock).where(
            Product.run_id == server["run"], Product.sku == "TEA-250"))
        balances = dict(db.session.execute(db.select(Party.key, Party.balance_cents).where(
            Party.run_id == server["run"])).all())
        result = ((order.state, order.payment) if order else None, stock,
                  balances["buyer"], balances["company"])
        db.session.remove()
    return result


def console(browser, server, username, role):
    """A student logs in on their own browser and opens their console, in English."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(server["base"] + "/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    with page.expect_navigation():
        page.click("form:has(input[name=password]) button[type=submit]")
    assert "/auth/login" not in page.url, f"{username} could not log in"
    page.goto(f"{server['base']}/run/{server['run']}/{role}/")
    assert page.locator("html").get_attribute("lang", timeout=2000).startswith("en")
    mark(page)
    return page


def mark(page):
    """A marker that survives only as long as this page is not reloaded."""
    page.evaluate("window.__notReloaded = true")


def press(page, action):
    """Press the button of this action on the console (the first ready one)."""
    form = page.locator(f"form[action$='/act/{action}']").first
    form.wait_for(timeout=5000)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert page.locator("#action-error, .alert-danger, .alert-warning").count() == 0, \
        page.locator("#action-error, .alert-danger, .alert-warning").first.inner_text()
    mark(page)


def appears_by_itself(page, action, seconds=3.0) -> float:
    """Wait, without reloading, until the console offers this action; return how long it took."""
    started = time.monotonic()
    page.locator(f"form[action$='/act/{action}']").first.wait_for(timeout=seconds * 1000)
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    return time.monotonic() - started


def test_seven_students_carry_an_order_through_their_browsers(chromium, demo_server):
    server = demo_server
    pages = {role: console(chromium, server, username, role)
             for username, (_, role) in DEMO_STUDENTS.items()}
    assert order_state(server) == (None, 100, 2000000, 5000000)
    for role, page in pages.items():
        assert page.url.endswith(f"/run/{server['run']}/{role}/"), (role, page.url)

    # The buyer adds two boxes to the cart and checks out.
    buyer = pages["buyer"]
    product = buyer.locator("form[action$='/cart']", has=buyer.locator("#qty-TEA-250"))
    product.locator("input[name=qty]").fill("2")
    with buyer.expect_navigation():
        product.locator("button[type=submit]").click()
    assert "176.00" in buyer.locator("#cart").inner_text()
    checkout = buyer.locator("form[action$='/checkout']")
    checkout.locator("select[name=payment]").select_option("bank_transfer")
    with buyer.expect_navigation():
        checkout.locator("button[type=submit]").click()
    mark(buyer)
    assert order_state(server)[0] == ("placed", "unpaid")

    # Sales never reloads: the new order shows up by itself within 3 s of the checkout.
    took = appears_by_itself(pages["supplier"], "accept_order")
    print(f"sales saw the order {took:.2f} s after the checkout")
    assert took <= 3.0
    press(pages["supplier"], "accept_order")
    assert order_state(server)[0] == ("accepted", "unpaid")

    steps = [("buyer", "pay_order", ("accepted", "paid")),
             ("finance", "confirm_payment", ("accepted", "confirmed")),
             ("warehouse", "ship_order", ("shipped", "confirmed")),
             ("logistics", "deliver_order", ("delivered", "confirmed")),
             ("buyer", "confirm_receipt", ("received", "confirmed"))]
    for role, action, expected in steps:
        appears_by_itself(pages[role], action, seconds=10.0)
        press(pages[role], action)
        assert order_state(server)[0] == expected, action

    assert order_state(server) == (("received", "confirmed"), 98, 2000000 - 17600,
                                   5000000 + 17600)
    buyer.reload()
    assert "19,824.00" in buyer.locator("body").inner_text()
    assert "Received" in buyer.locator("body").inner_text() or \
        "received" in buyer.locator("body").inner_text()
    pages["warehouse"].reload()
    assert "98" in pages["warehouse"].locator("body").inner_text()
    # Roles with nothing to do in this flow still had a working console all along.
    for role in ("mall_admin", "purchasing"):
        assert pages[role].evaluate("window.__notReloaded === true")
        assert pages[role].locator("#action-error").count() == 0
    for page in pages.values():
        page.context.close()
