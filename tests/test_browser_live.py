"""Browser tests of live control: the instructor pauses and resumes a group's run from the board
while a student's console is open; a refused form comes back with its field marked."""
import os
import threading

import pytest
from werkzeug.serving import make_server

from lab import create_app
from lab.extensions import db
from tests.test_browser import CHROMIUM, browser, logged_in  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser]
if not CHROMIUM:
    pytestmark.append(pytest.mark.skipif(
        not (os.environ.get("CI") == "true" or os.environ.get("REQUIRE_BROWSER") == "1"),
        reason="Chromium is not installed (apt-get install chromium)"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM:
        pytest.fail("Chromium is required (CI=true or REQUIRE_BROWSER=1) but not installed")
    path = tmp_path_factory.mktemp("browser-live")
    os.environ["ECOMLAB_INSTANCE"] = str(path / "instance")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path / 'lab.sqlite'}",
                      "SECRET_KEY": "browser-live-test", "POLL_SECONDS": 1})
    with app.app_context():
        db.create_all()
        from lab.classroom import work
        from lab.models import Classroom, Group, Run
        from lab.runs import start
        from lab.scenario import load_file
        from tests.helpers import SCENARIOS, make_user
        teacher = make_user("live-teacher", name="周老师", is_instructor=True)
        buyer = make_user("live-buyer")
        classroom = Classroom(name="直播班", instructor_id=teacher.id, join_code="LIVEWEB")
        db.session.add(classroom)
        db.session.flush()
        db.session.add(Group(classroom_id=classroom.id, number=1, roles={"buyer": buyer.id}))
        db.session.commit()
        assignment = work.assign(classroom, load_file(SCENARIOS / "b2c-normal.yaml"),
                                 classroom.groups, teacher.id)
        run = db.session.scalar(db.select(Run))
        start(run, by=teacher.id)
        db.session.commit()
        ids = {"run": run.id, "assignment": assignment.id}
        db.session.remove()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"base": f"http://127.0.0.1:{httpd.server_port}", "app": app, **ids}
    httpd.shutdown()


def countdown(page) -> str:
    return page.inner_text("#console-countdown .countdown-value")


def test_pausing_shows_the_banner_and_disables_the_console_until_resumed(browser, server):
    student = logged_in(browser, server, "live-buyer")
    student.goto(f"{server['base']}/run/{server['run']}/buyer/")
    add = student.locator(".product[data-sku='TEA-250'] button[type=submit]")
    assert student.locator("#run-banner").is_hidden() and add.is_enabled()
    teacher = logged_in(browser, server, "live-teacher")
    teacher.goto(f"{server['base']}/classroom/assignment/{server['assignment']}/board")
    teacher.click("#board-table form:has(input[value=pause]) button[type=submit]")

    # Within the poll interval (1 s here): banner, every button off, the clock stands still.
    student.wait_for_selector("#run-banner", state="visible", timeout=5000)
    assert "Paused by the instructor" in student.inner_text("#run-banner")
    buttons = student.locator("#console-actions button").all()
    assert add.is_disabled() and len(buttons) >= 2 and all(b.is_disabled() for b in buttons)
    frozen = countdown(student)
    student.wait_for_timeout(2200)
    assert countdown(student) == frozen

    teacher.click("#board-table form:has(input[value=resume]) button[type=submit]")
    student.wait_for_selector("#run-banner", state="hidden", timeout=5000)
    assert add.is_enabled()
    student.wait_for_timeout(2200)
    assert countdown(student) != frozen  # ticking again, from the server's value
    add.click()  # and the console works again
    student.wait_for_selector(".alert-success")
    student.context.close()
    teacher.context.close()


def test_a_refused_form_comes_back_with_its_field_marked(browser, server):
    student = logged_in(browser, server, "live-buyer")
    student.goto(f"{server['base']}/run/{server['run']}/buyer/")
    form = ".product[data-sku='CUP-01'] form"
    # Bypass the browser's own check (min=1) to let the server refuse the quantity.
    student.eval_on_selector(form, "f => { f.noValidate = true; }")
    student.fill("#qty-CUP-01", "0")
    with student.expect_navigation():
        student.click(f"{form} button[type=submit]")
    assert "between 1 and" in student.inner_text("#action-error")
    assert student.locator("#qty-CUP-01.is-invalid").count() == 1
    assert student.get_attribute("#qty-CUP-01", "aria-describedby") == "action-error-note"
    assert "between 1 and" in student.inner_text("#action-error-note")
    assert student.locator(".is-invalid").count() == 1  # that field only
    student.reload()  # a reload is a GET: nothing is sent again, the mark is gone
    assert student.locator("#action-error, .is-invalid").count() == 0
    student.context.close()
