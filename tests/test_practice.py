"""Guided solo mode: practice runs, the guide, "show me", the flow map, the completion page."""
import re

from lab.extensions import db
from lab.models import Event, Run, Seat
from lab.runs import grade_run
from tests.helpers import doc, login, make_user, post


FIVE = ["buyer", "supplier", "finance", "warehouse", "logistics"]


def start(client, scenario, roles):
    return post(client, "/practice/start", {"scenario": scenario, "roles": roles})


def started_with_first_order(client):
    """A learner's b2c-normal practice with its first step shown by a bot."""
    make_user("solo")
    login(client, "solo")
    start(client, "b2c-normal", FIVE)
    run = db.session.scalar(db.select(Run))
    post(client, f"/practice/run/{run.id}/show/order", {"role": "buyer"})
    return run


def test_a_learner_starts_a_run_playing_some_roles(app, client):
    user = make_user("solo")
    login(client, "solo")
    page = client.get("/practice/").get_data(as_text=True)
    assert "b2c-out-of-stock" in page
    r = start(client, "b2c-out-of-stock", ["buyer", "warehouse"])
    run = db.session.scalar(db.select(Run).where(Run.owner_id == user.id))
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/run/{run.id}/buyer/")
    assert run.kind == "solo" and run.status == "running"
    assert {s.role for s in db.session.scalars(db.select(Seat))} == {"buyer", "warehouse"}


def test_start_needs_a_scenario_and_a_role(app, client):
    make_user("solo")
    login(client, "solo")
    assert start(client, "nope", ["buyer"]).status_code == 303
    assert start(client, "b2c-normal", []).status_code == 303
    assert db.session.query(Run).count() == 0


def test_the_guide_shows_the_next_step_and_switches_roles(app, client):
    make_user("solo")
    login(client, "solo")
    start(client, "b2c-normal", FIVE)
    run = db.session.scalar(db.select(Run))
    page = client.get(f"/run/{run.id}/supplier/", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert 'id="guide"' in text and "Step 1" in text
    assert "Put 2 boxes of Longjing tea in the cart" in text  # the step's hint
    assert f'href="/run/{run.id}/buyer/"' in text and "Switch to Buyer" in text


def test_show_me_performs_exactly_that_step(app, client):
    run = started_with_first_order(client)
    graded = grade_run(db.session.get(Run, run.id))
    assert [s.id for s in graded.steps if s.met] == ["order"]
    assert doc(run, "order").state == "placed"
    assert db.session.query(Event).filter_by(ok=True).count() == 1


def test_flow_map_has_a_lane_per_role_and_marks_done_and_next(app, client):
    run = started_with_first_order(client)
    svg = client.get(f"/practice/run/{run.id}/map?fragment=1").get_data(as_text=True)
    lanes = re.findall(r'class="lane" data-role="(\w+)"', svg)
    assert lanes == ["buyer", "supplier", "finance", "warehouse", "logistics"]
    assert 'class="step done" data-step="order"' in svg
    assert 'class="step next" data-step="accept"' in svg
    assert 'class="step pending" data-step="receipt"' in svg
    assert svg.count("marker-end") == 6  # one arrow per dependency


def test_completion_page_reviews_each_mistake(app, client):
    run = started_with_first_order(client)
    order = doc(run, "order")
    refused = post(client, f"/run/{run.id}/warehouse/act/ship_order",
                   {"doc": order.id}, headers={"Accept-Language": "en"})
    assert refused.status_code == 303
    for step in ("accept", "pay", "confirm-payment", "ship", "deliver", "receipt"):
        post(client, f"/practice/run/{run.id}/show/{step}", {"role": "buyer"})
    page = client.get(f"/practice/run/{run.id}/done",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    # "Show me" did all seven steps (they earn no points), and says so for each.
    assert 'id="score">0 / 70' in page
    losses = page.split('id="losses"')[1].split("</ul>")[0]
    assert losses.count("was done by “Show me”: no points.") == 7 and "−1<" in losses
    assert "tried “Ship”" in page and "First Sales department must “Accept order”" in page


def test_another_users_practice_run_is_hidden(app, client):
    make_user("solo")
    make_user("other")
    login(client, "solo")
    start(client, "b2c-normal", ["buyer"])
    run = db.session.scalar(db.select(Run))
    other = app.test_client()
    login(other, "other")
    assert other.get(f"/practice/run/{run.id}/map").status_code == 404
    assert other.get(f"/practice/run/{run.id}/done").status_code == 404
    assert post(other, f"/practice/run/{run.id}/show/order").status_code == 404
    assert other.get(f"/run/{run.id}/buyer/").status_code == 403
