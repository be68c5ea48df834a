"""One-time form keys are unguessable and belong to whoever sends them: a key copied from
another person's page, or a bot's predictable key, never makes somebody else's action "already
done" (lab/once.py, lab/engine/core.py bound_key, roles/common.py)."""
import re

from lab.engine import Actor, perform
from lab.extensions import db
from lab.models import Classroom, Document, Event
from lab.plan import plan
from lab.runs import grade_run
from tests.helpers import login, make_user, post, start_run

EN = {"Accept-Language": "en"}
KEY = re.compile(r'name="request_key" value="([^"]+)"')


def keys_on(client, url) -> list[str]:
    return KEY.findall(client.get(url, headers=EN).get_data(as_text=True))


def test_form_keys_are_random_tokens_different_on_every_page(app):
    ann = make_user("ann")
    run = start_run("b2c-normal", seats={"buyer": [ann.id]})
    client = login(app.test_client(), "ann")
    console = f"/run/{run.id}/buyer/"
    first, second = keys_on(client, console), keys_on(client, console)
    assert first and second
    keys = first + second
    assert len(set(keys)) == len(keys)  # no two forms, no two page loads share one
    for key in keys:
        # secrets.token_urlsafe(18): 144 random bits, not a counter or a timestamp
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", key), key


def test_a_key_copied_from_another_students_page_cannot_block_her_form(app):
    """Bo (mall admin) sends a notice with the key he read on Ann's page before she sends her
    order: her order is still placed, and his notice was posted too."""
    ann, bo = make_user("ann"), make_user("bo")
    run = start_run("b2c-normal", seats={"buyer": [ann.id], "mall_admin": [bo.id]})
    ann_client = login(app.test_client(), "ann")
    bo_client = login(app.test_client(), "bo")
    key = keys_on(ann_client, f"/run/{run.id}/buyer/")[0]  # a key of one of Ann's forms

    r = post(bo_client, f"/run/{run.id}/mall_admin/act/post_notice",
             {"title": "Sale", "body": "Tea at half price", "request_key": key})
    assert r.status_code == 302
    r = post(ann_client, f"/run/{run.id}/buyer/act/place_order",
             {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": key},
             headers=EN, follow_redirects=True)
    assert "Already done" not in r.get_data(as_text=True)
    assert db.session.query(Document).filter_by(run_id=run.id, kind="order").count() == 1
    assert db.session.query(Document).filter_by(run_id=run.id, kind="notice").count() == 1
    # Her own form sent again is still recognised as the same form: done once.
    again = post(ann_client, f"/run/{run.id}/buyer/act/place_order",
                 {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": key},
                 headers=EN, follow_redirects=True)
    assert "Already done: this form was sent before." in again.get_data(as_text=True)
    assert db.session.query(Document).filter_by(run_id=run.id, kind="order").count() == 1


def test_a_student_cannot_pre_empt_a_bot_step_with_its_key(app):
    """The bot playing the buyer keys its order with a predictable key. A student who sends
    that very key first (straight to the engine, the only door) does not stop the bot."""
    bo = make_user("bo")
    run = start_run("b2c-normal", seats={"mall_admin": [bo.id]})  # a bot plays the buyer
    move = next(m for m in plan(run, grade_run(run)).moves if m.action == "place_order")
    bot_key = f"bot:{run.id}:{move.step.id}:{move.action}"  # as lab/bots.py keys it
    perform(run.id, Actor("mall_admin", "student", bo.id), "post_notice", None,
            {"title": "Mine", "body": "first"}, request_key=bot_key)

    from lab.bots import perform_move
    assert perform_move(db.session.get(type(run), run.id), move)
    assert db.session.query(Document).filter_by(run_id=run.id, kind="order").count() == 1
    assert grade_run(run).result("order").met


def test_an_instructors_form_key_is_his_own(app):
    """Two instructors: a key that one of them sends first (copied from the other's page)
    does not turn the other's "new class" form into "already sent"."""
    make_user("wang", is_instructor=True)
    make_user("li", is_instructor=True)
    wang, li = login(app.test_client(), "wang"), login(app.test_client(), "li")
    key = keys_on(wang, "/classroom/")[0]
    post(li, "/classroom/new", {"name": "Li's class", "request_key": key})
    r = post(wang, "/classroom/new", {"name": "Wang's class", "request_key": key},
             headers=EN, follow_redirects=True)
    assert "Already done" not in r.get_data(as_text=True)
    assert {c.name for c in db.session.query(Classroom)} == {"Li's class", "Wang's class"}
    again = post(wang, "/classroom/new", {"name": "Wang's class", "request_key": key},
                 headers=EN, follow_redirects=True)
    assert "Already done: this form was sent before." in again.get_data(as_text=True)
    assert db.session.query(Classroom).count() == 2


def test_a_key_with_a_line_break_is_no_key(app):
    """`$` in a regular expression also matches before a final newline: the key's shape is
    checked whole, so "key\\n" is not taken for "key"."""
    from lab import once
    assert once.KEY.fullmatch("abcdefgh1234") and not once.KEY.fullmatch("abcdefgh1234\n")
    ann = make_user("ann")
    run = start_run("b2c-normal", seats={"buyer": [ann.id]})
    client = login(app.test_client(), "ann")
    post(client, f"/run/{run.id}/buyer/act/place_order",
         {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer",
          "request_key": "linebreak-key\n"})
    stored = db.session.scalars(db.select(Event.request_key).where(Event.run_id == run.id,
                                                                   Event.ok.is_(True))).all()
    assert all(key is None or "\n" not in key for key in stored)


def test_long_keys_fit_the_event_log_on_every_database(app):
    """A bot's key names the step, which an uploaded scenario may make long; a person's key is
    stored with its owner. Both fit the column (PostgreSQL refuses longer text)."""
    from lab.engine.core import bound_key
    ann = make_user("ann")
    long_key = "k" * 64
    bound = bound_key(Actor("buyer", "student", ann.id), long_key)
    assert len("refused:" + bound) <= 80
    assert len(bound_key(Actor("buyer", "bot"), "bot:1:" + "s" * 100 + ":place_order")) <= 72
    run = start_run("b2c-normal", seats={"buyer": [ann.id]})
    perform(run.id, Actor("buyer", "student", ann.id), "place_order", None,
            {"lines": [{"sku": "TEA-250", "qty": 2}], "payment": "bank_transfer"},
            request_key=long_key)
    assert db.session.query(Document).filter_by(run_id=run.id, kind="order").count() == 1
