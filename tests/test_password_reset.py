""""Forgot your password?" by e-mail, against a real SMTP server (aiosmtpd) run by the test;
and, without a mail server, the page that sends the student to the instructor's reset."""
import re
import socket
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from lab.extensions import db, limiter, mail
from lab.models import User
from tests.helpers import make_user, post

LINK = re.compile(r"http://localhost(/auth/reset/[\w.\-]+)")


class Inbox:
    """An SMTP handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, _server, _session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content,
                                                                    policy=policy.default)))
        return "250 OK"

    def wait(self, n: int, seconds: float = 5):
        deadline = time.monotonic() + seconds
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, MAIL_USE_TLS=False,
                      MAIL_USE_SSL=False, MAIL_SUPPRESS_SEND=False,
                      MAIL_DEFAULT_SENDER="ecomlab <noreply@lab.example.edu>")
    mail.init_app(app)  # Flask-Mail reads its settings when initialised
    yield inbox
    controller.stop()


def logs_in(app, username, password) -> bool:
    client = app.test_client()
    return post(client, "/auth/login",
                {"username": username, "password": password}).status_code == 302


def link_in(message) -> str:
    return LINK.search(message.get_body(preferencelist=("plain",)).get_content())[1]


def test_a_student_gets_a_link_by_email_and_chooses_a_new_password(app, client, smtp):
    make_user("2026001", email="li.lei@stu.example.edu", name="Li Lei")
    assert "forgot-form" in client.get("/auth/forgot").get_data(as_text=True)
    r = post(client, "/auth/forgot", {"who": "LI.LEI@stu.example.edu "})
    assert r.status_code == 303 and r.headers["Location"].endswith("/auth/login")
    (recipients, message), = smtp.wait(1)
    assert recipients == ["li.lei@stu.example.edu"]
    assert "noreply@lab.example.edu" in message["From"]
    path = link_in(message)

    page = client.get(path).get_data(as_text=True)
    assert "reset-form" in page and "2026001" in page
    r = post(client, path, {"password": "new-secret-1", "confirm": "new-secret-1"})
    assert r.status_code == 303
    assert client.get("/").status_code == 200  # logged in

    assert not logs_in(app, "2026001", "pw123456")  # the old one is gone
    assert logs_in(app, "2026001", "new-secret-1")

    # The link worked once: again, it is refused and changes nothing.
    fresh = app.test_client()
    again = post(fresh, path, {"password": "other-secret", "confirm": "other-secret"})
    assert again.status_code == 400 and "reset-refused" in again.get_data(as_text=True)
    assert logs_in(app, "2026001", "new-secret-1")


def test_the_answer_does_not_say_whether_an_account_exists(app, client, smtp):
    make_user("2026002", email="han.mei@stu.example.edu")
    make_user("2026003")  # no e-mail address
    answers = set()
    for who in ("2026002", "nobody", "2026003", "ghost@example.edu"):
        r = post(app.test_client(), "/auth/forgot", {"who": who})
        answers.add((r.status_code, r.headers.get("Location")))
    assert len(answers) == 1
    assert [to for to, _ in smtp.wait(1, seconds=1)] == [["han.mei@stu.example.edu"]]


def test_a_link_from_before_a_password_change_or_too_old_is_refused(app, smtp, monkeypatch):
    user = make_user("2026004", email="wei@stu.example.edu")
    post(app.test_client(), "/auth/forgot", {"who": "2026004"})
    path = link_in(smtp.wait(1)[0][1])
    user.set_password("changed-meanwhile")
    db.session.commit()
    r = app.test_client().get(path)
    assert r.status_code == 400 and "reset-refused" in r.get_data(as_text=True)

    post(app.test_client(), "/auth/forgot", {"who": "2026004"})
    path = link_in(smtp.wait(2)[1][1])
    app.config["RESET_LINK_MINUTES"] = 0
    time.sleep(1.1)
    client = app.test_client()
    r = post(client, path, {"password": "late-secret-1", "confirm": "late-secret-1"})
    assert r.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("changed-meanwhile")

    forged = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    assert app.test_client().get(forged).status_code == 400


def test_a_mailbox_is_not_flooded(app, smtp):
    make_user("2026005", email="flood@stu.example.edu")
    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    limiter.init_app(app)
    codes = [post(app.test_client(), "/auth/forgot", {"who": "2026005"}).status_code
             for _ in range(5)]
    assert codes[:3] == [303, 303, 303] and codes[3:] == [429, 429]
    limiter.reset()
    assert len(smtp.wait(3, seconds=1)) == 3


def test_a_reset_password_means_the_first_login_change_is_done(app, smtp):
    user = make_user("2026006", email="first@stu.example.edu")
    user.must_change_password = True
    db.session.commit()
    post(app.test_client(), "/auth/forgot", {"who": "2026006"})
    path = link_in(smtp.wait(1)[0][1])
    client = app.test_client()
    post(client, path, {"password": "mine-at-last", "confirm": "mine-at-last"})
    assert client.get("/").status_code == 200  # not sent to the password page
    db.session.expire_all()
    assert not db.session.get(User, user.id).must_change_password


def test_a_bad_new_password_is_refused_and_keeps_the_link_usable(app, smtp):
    make_user("2026007", email="typo@stu.example.edu")
    post(app.test_client(), "/auth/forgot", {"who": "2026007"})
    path = link_in(smtp.wait(1)[0][1])
    client = app.test_client()
    r = post(client, path, {"password": "short", "confirm": "short"})
    assert r.status_code == 400
    r = post(client, path, {"password": "long-enough-1", "confirm": "long-enough-2"})
    assert r.status_code == 400
    assert post(client, path, {"password": "long-enough-1",
                               "confirm": "long-enough-1"}).status_code == 303


def test_without_a_mail_server_the_page_sends_the_student_to_the_instructor(app, client):
    assert not app.config.get("MAIL_SERVER")
    page = client.get("/auth/forgot", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="no-mail"' in page and "instructor" in page and "<form" not in page.split(
        'id="no-mail"')[1].split("</main>")[0]
    r = post(client, "/auth/forgot", {"who": "anyone"})
    assert r.status_code == 200 and 'id="no-mail"' in r.get_data(as_text=True)


def test_the_login_page_links_to_it_and_a_locked_account_cannot_use_a_link(app, client, smtp):
    assert 'id="forgot-link"' in client.get("/auth/login").get_data(as_text=True)
    user = make_user("2026008", email="locked@stu.example.edu")
    post(app.test_client(), "/auth/forgot", {"who": "2026008"})
    path = link_in(smtp.wait(1)[0][1])
    user.locked_at = user.created_at
    db.session.commit()
    r = post(app.test_client(), path, {"password": "new-secret-9", "confirm": "new-secret-9"})
    assert r.status_code == 403 and "reset-refused" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("pw123456")
