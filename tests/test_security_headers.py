"""Issue 13, item 5: security headers.

Every page carries a Content Security Policy that runs only the lab's own script files (no
inline script, no onclick=, no eval), so an injected <script> or attribute would not run; the
pages themselves have none (their behaviour is in lab/static/*.js, driven by data-* attributes:
tests/test_browser*.py check it still works). Served over https (ECOMLAB_HTTPS=1), the session
cookie is Secure and browsers get HSTS; behind a reverse proxy (ECOMLAB_PROXIES=1) its
X-Forwarded-* headers are believed."""
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.helpers import login
from lab.extensions import db
from lab.models import Run

ROOT = Path(__file__).resolve().parent.parent
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_ATTRIBUTE = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def script_sources(policy: str) -> list[str]:
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return directives.get("script-src", directives.get("default-src", "")).split()


def check_page(url: str, response) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    assert policy, f"{url}: no Content-Security-Policy"
    sources = script_sources(policy)
    assert sources == ["'self'"], f"{url}: script-src {sources}"
    assert "frame-ancestors" in policy and "object-src 'none'" in policy
    if response.mimetype == "text/html":
        page = response.get_data(as_text=True)
        for pattern in (INLINE_SCRIPT, EVENT_ATTRIBUTE, JS_URL):
            found = pattern.search(page)
            assert found is None, f"{url}: inline script {found.group(0)[:120]!r}"


def test_no_template_has_inline_script_or_event_handlers():
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        for pattern in (INLINE_SCRIPT, EVENT_ATTRIBUTE, JS_URL):
            found = pattern.search(text)
            assert found is None, f"{template.relative_to(ROOT)}: {found.group(0)[:120]!r}"


def crawl(client, start: str, limit: int = 80) -> list[str]:
    """Every page reachable by links from `start` (GET only, this site only)."""
    seen, queue = [], [start]
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.append(url)
        response = client.get(url, headers={"Accept-Language": "en"})
        check_page(url, response)
        if response.status_code in (301, 302, 303):
            queue.append(response.headers["Location"])
            continue
        if response.mimetype != "text/html":
            continue
        for link in re.findall(r'href="(/[^"#]*)', response.get_data(as_text=True)):
            path = urlsplit(link).path
            if link not in seen and not path.startswith(("/static/", "/bootstrap/")) \
                    and "logout" not in path:
                queue.append(link.replace("&amp;", "&"))
    return seen


@pytest.mark.parametrize("who", ["teacher", "buyer", "learner", "admin"])
def test_every_page_a_user_reaches_has_the_policy_and_no_inline_script(app, who):
    from lab.demo import DEMO_PASSWORD, seed
    seed()
    db.session.commit()
    client = login(app.test_client(), who, DEMO_PASSWORD)
    pages = crawl(client, "/")
    assert len(pages) >= 5, pages


def test_the_login_page_and_errors_carry_the_policy_too(client):
    for url in ("/auth/login", "/auth/register", "/no-such-page"):
        check_page(url, client.get(url))


def test_served_over_https_the_cookie_is_secure_and_browsers_get_hsts(app):
    from lab import create_app
    from tests.helpers import _config
    https = create_app({**_config("sqlite", Path(app.instance_path)), "ECOMLAB_HTTPS": True})
    response = https.test_client().get("/auth/login", base_url="https://lab.example")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    assert "; Secure" in response.headers["Set-Cookie"]
    assert https.config["SESSION_COOKIE_SECURE"] is True


def test_over_plain_http_no_hsts_and_no_secure_cookie_by_default(client):
    response = client.get("/auth/login")
    assert "Strict-Transport-Security" not in response.headers
    assert "Secure" not in response.headers["Set-Cookie"]


def test_behind_a_proxy_its_forwarded_headers_count(app):
    from flask import request
    from lab import create_app
    from tests.helpers import _config
    proxied = create_app({**_config("sqlite", Path(app.instance_path)), "ECOMLAB_HTTPS": True,
                          "ECOMLAB_PROXIES": 1})
    proxied.add_url_rule("/_who", "who", lambda: f"{request.remote_addr} {request.scheme}")
    client = proxied.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    assert client.get("/_who", headers=forwarded).get_data(as_text=True) == \
        "203.0.113.7 https"  # the rate limits' client address
    response = client.get("/auth/login", headers=forwarded)
    assert "Strict-Transport-Security" in response.headers
    assert "; Secure" in response.headers["Set-Cookie"]


# ---- in a browser: the pages work under the policy, and it never has to refuse anything ------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("REQUIRE_BROWSER") == "1"
NO_CHROMIUM = "Chromium is not installed (apt-get install chromium); scripts/test.sh installs it"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The demo (a class with a running run) on a real server, with the lab's real headers."""
    if not CHROMIUM:
        pytest.fail("Chromium is required (CI=true or REQUIRE_BROWSER=1) but not installed")
    from lab import create_app
    from lab.demo import seed
    from lab.models import Classroom, Enrollment
    from tests.helpers import make_user
    path = tmp_path_factory.mktemp("csp")
    saved = os.environ.get("ECOMLAB_INSTANCE")
    os.environ["ECOMLAB_INSTANCE"] = str(path / "instance")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path / 'lab.sqlite'}",
                      "SECRET_KEY": "csp-browser-test", "POLL_SECONDS": 1})
    if saved is None:
        os.environ.pop("ECOMLAB_INSTANCE")
    else:
        os.environ["ECOMLAB_INSTANCE"] = saved
    with app.app_context():
        db.create_all()
        seed()
        late = make_user("latecomer", name="Late Comer")  # not in a group: the move menu
        classroom = db.session.scalar(select(Classroom))
        db.session.add(Enrollment(classroom_id=classroom.id, user_id=late.id))
        db.session.commit()
        run = db.session.scalar(select(Run).where(Run.kind == "class"))
        ids = {"class": classroom.id, "assignment": run.assignment_id, "run": run.id}
        db.session.remove()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"base": f"http://127.0.0.1:{httpd.server_port}", **ids}
    httpd.shutdown()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


def watched_page(chromium, server, username, problems):
    """A logged-in page whose console errors and page errors (a CSP refusal is one) are kept."""
    page = chromium.new_context(locale="en-US").new_page()
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
            and problems.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico")
            and problems.append(f"{r.url}: {r.status}"))
    page.goto(server["base"] + "/auth/login")
    page.fill("#username", username)
    page.fill("#password", "demo123")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/(classroom/)?$"))
    return page


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM and not REQUIRED, reason=NO_CHROMIUM)
def test_the_pages_work_under_the_policy_with_no_violation(chromium, demo_server):
    problems: list[str] = []
    base = demo_server["base"]
    teacher = watched_page(chromium, demo_server, "teacher", problems)

    # The class page: a confirm dialog guards "New join code" (Cancel keeps the code).
    teacher.goto(f"{base}/classroom/{demo_server['class']}")
    code = teacher.text_content("code.join-code")
    asked = []
    teacher.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    teacher.click("text=New join code")
    teacher.wait_for_timeout(300)
    assert asked and "old one stops working" in asked[0]
    assert teacher.text_content("code.join-code") == code
    teacher.once("dialog", lambda d: d.accept())
    teacher.click("text=New join code")
    teacher.wait_for_selector("text=the old one no longer works")
    assert teacher.text_content("code.join-code") != code

    # Choosing a group in a "move to…" menu sends its form.
    teacher.select_option("#ungrouped select[name=group]", label="Group 1")
    teacher.wait_for_selector(".alert-success")
    assert teacher.locator("#ungrouped").count() == 0

    # The print buttons print.
    teacher.goto(f"{base}/classroom/{demo_server['class']}/credentials")
    teacher.evaluate("window.print = () => { window.printed = true; }")
    teacher.click("[data-print]")
    assert teacher.evaluate("window.printed === true")

    # The board refreshes itself (its rows are fetched again and replaced).
    teacher.goto(f"{base}/classroom/assignment/{demo_server['assignment']}/board")
    teacher.evaluate("document.querySelector('#board').firstElementChild.dataset.old = '1'")
    teacher.wait_for_selector("#board [data-old]", state="detached", timeout=15000)

    # A student's console polls for news (live.js) and shows the buyer's order to sales.
    buyer = watched_page(chromium, demo_server, "buyer", problems)
    sales = watched_page(chromium, demo_server, "sales", problems)
    sales.goto(f"{base}/run/{demo_server['run']}/supplier/")
    polls = []
    sales.on("request", lambda r: "/live/" in r.url and polls.append(r.url))
    buyer.goto(f"{base}/run/{demo_server['run']}/buyer/")
    buyer.fill("#qty-TEA-250", "2")  # what the scenario's step 1 asks
    buyer.click(".product[data-sku='TEA-250'] button[type=submit]")
    buyer.wait_for_selector("#cart-total")
    buyer.click("#checkout")
    buyer.wait_for_selector(".alert-success")
    sales.wait_for_selector("#inbox form[action$='/act/accept_order']", timeout=15000)
    assert polls
    sales.click("#inbox form[action$='/act/accept_order'] button[type=submit]")
    sales.wait_for_selector(".alert-success")

    # The replay steps through those events with its buttons and keys.
    teacher.goto(f"{base}/classroom/run/{demo_server['run']}/replay")
    first = teacher.text_content("#replay-pos")
    assert first.startswith("1 / ")
    teacher.click("#replay-next")
    assert teacher.text_content("#replay-pos").startswith("2 / ")
    teacher.keyboard.press("Home")
    assert teacher.text_content("#replay-pos") == first

    assert problems == []
