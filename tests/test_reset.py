"""Resetting a group's run to before a step (lab/classroom/repair.py `reset`): the world and the
grade are what they were before the step, what was undone stays readable in an archived replay,
the group's open pages follow, and a reset the engine cannot compensate changes nothing."""
import re

import pytest

from lab.classroom import repair
from lab.extensions import db
from lab.models import Document, Event, Party, Product, Run
from lab.runs import grade_run, scenario_of
from tests.helpers import SCENARIOS, balance, doc, login, make_user, play, post, start_run, stock
from tests.test_repair import EN, lesson, page, student, text_of  # noqa: F401  (fixture)

ALL = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def world(run) -> dict:
    """What a user can check of a run's world: balances, stock, documents and their states,
    and the grade step by step."""
    db.session.expire_all()
    parties = db.session.scalars(db.select(Party).where(Party.run_id == run.id)).all()
    products = db.session.scalars(db.select(Product).where(Product.run_id == run.id)).all()
    docs = db.session.scalars(db.select(Document).where(Document.run_id == run.id)
                              .order_by(Document.number)).all()
    graded = grade_run(db.session.get(Run, run.id))
    return {"balances": {p.key: p.balance_cents for p in parties},
            "stock": {p.sku: p.stock for p in products},
            "documents": [(d.number, d.kind, d.state) for d in docs],
            "steps": [(s.id, s.status, s.points) for s in graded.steps]}


def reset_form(client, run, step, reason="finance confirmed the wrong order", confirm="yes"):
    data = {"step": step, "reason": reason}
    if confirm:
        data["confirm"] = confirm
    return post(client, f"/classroom/run/{run.id}/reset", data, headers=EN)


# ---- the world after a reset is the world before the step ---------------------------------------

@pytest.mark.parametrize("slug", ALL)
def test_a_reset_run_is_the_run_as_it_was_before_the_step(app, english, slug):
    """Played to its last step, reset to before its middle step: balances, stock, documents
    and grade equal those of a fresh run played up to that step, and stay equal to the end.
    (`play` is the guide's "Show me": it plays each step for no points.)"""
    steps = [s.id for s in scenario_of(start_run(slug)).steps]
    middle, last = steps[len(steps) // 2], steps[-1]
    fresh = play(start_run(slug), until=middle)
    run = play(start_run(slug), until=last)
    played = world(run)
    teacher = make_user("teacher", is_instructor=True)

    archive = repair.reset(run, teacher.id, middle, "replay from the middle")

    assert world(run) == world(fresh)
    assert world(archive) == played  # what was undone is kept as it was
    assert db.session.get(Run, archive.id).status == "archived"
    # It goes on from there as the fresh run does, to the end.
    play(db.session.get(Run, run.id))
    play(fresh)
    assert world(run) == world(fresh)
    assert grade_run(db.session.get(Run, run.id)).completed


def test_what_stays_with_the_run_is_declared(app):
    """Every table that belongs to a run either moves to the archive with the world (all but
    these) or stays with the run: the seats and the instructor's marks of the people."""
    tables = {t.name for t in db.metadata.sorted_tables if "run_id" in t.c}
    assert repair.KEPT_WITH_RUN - {"run"} <= tables
    assert {"event", "document", "party", "product"} <= tables - repair.KEPT_WITH_RUN


# ---- from the board, as the instructor and the group see it --------------------------------------

def test_an_instructor_resets_a_group_to_before_shipping_and_the_group_ships_again(lesson):
    client, run = lesson["client"], lesson["runs"][0]
    other = lesson["runs"][1]
    play(run, until="deliver")  # ordered, accepted, paid, confirmed, shipped
    assert stock(run, "TEA-250") == 100 - 2
    shipment = doc(run, "shipment")
    order = doc(run, "order")
    buyer_before = balance(run, "buyer")
    earned = [(s.id, s.status, s.points) for s in grade_run(run).steps][:4]
    warehouse, _ = student(lesson, run, "warehouse")
    page(warehouse, f"/run/{run.id}/warehouse/doc/{shipment.id}")  # open before the reset

    html = page(client, f"/classroom/run/{run.id}/repair")
    form = html.split('id="reset-form"')[1].split("</form>")[0]
    assert re.findall(r'<option value="([^"]+)"', form) == [
        "order", "accept", "pay", "confirm-payment", "ship"]
    response = reset_form(client, run, "ship")
    assert response.status_code == 303
    shown = text_of(page(client, response.headers["Location"]))
    assert "Group 1 is back before step 5 “Ship”" in shown

    # The world is as before the shipment; nothing else moved.
    assert stock(run, "TEA-250") == 100
    assert balance(run, "buyer") == buyer_before
    assert [d.number for d in db.session.scalars(db.select(Document).where(
        Document.run_id == run.id, Document.kind == "shipment"))] == []
    graded = grade_run(db.session.get(Run, run.id))
    assert [(s.id, s.status) for s in graded.steps][3:5] == [("confirm-payment", "met"),
                                                             ("ship", "pending")]
    assert [(s.id, s.status, s.points) for s in graded.steps][:4] == earned  # as they were
    assert grade_run(db.session.get(Run, other.id)).score == 0  # the other group untouched

    # The warehouse student's open shipment page now says what happened and goes on.
    response = warehouse.get(f"/run/{run.id}/warehouse/doc/{shipment.id}", headers=EN)
    assert response.status_code == 303
    shown = text_of(page(warehouse, response.headers["Location"]))
    assert f"reset the run to before {shipment.number} existed" in shown
    response = warehouse.get(f"/run/{run.id}/warehouse/doc/{order.id}", headers=EN)
    assert response.status_code == 303  # the order: the same order as it is now
    assert f"this is {order.number} as it is now" in text_of(
        page(warehouse, response.headers["Location"]))

    # It ships again from the console, and the group finishes.
    new_order = doc(run, "order")
    response = post(warehouse, f"/run/{run.id}/warehouse/act/ship_order",
                    {"doc": new_order.id}, headers=EN)
    assert response.status_code == 302
    assert stock(run, "TEA-250") == 98
    ship = next(s for s in grade_run(db.session.get(Run, run.id)).steps if s.id == "ship")
    assert ship.met and ship.points == 10  # the warehouse student earns it
    play(db.session.get(Run, run.id))
    assert grade_run(db.session.get(Run, run.id)).completed

    # The replay shows the reset with its reason, and the archived replay what was undone.
    replay = text_of(page(client, f"/classroom/run/{run.id}/replay"))
    assert "reset the run to before step 5 “Ship”: finance confirmed the wrong order" in replay
    archive = db.session.scalar(db.select(Run).where(Run.archived_from_id == run.id))
    archived = text_of(page(client, f"/classroom/run/{archive.id}/replay"))
    assert "Archived" in archived and shipment.number in archived
    # The board and the grade sheet know two groups' runs: the archive is none of them.
    for url in (f"/classroom/assignment/{lesson['assignment']}/board",
                f"/classroom/assignment/{lesson['assignment']}/grades"):
        html = page(client, url)
        assert f"/classroom/run/{run.id}/replay" in html
        assert f"/classroom/run/{archive.id}/" not in html


@pytest.mark.parametrize("data, message", [
    ({"step": "ship", "reason": "x"}, "tick the box to confirm"),
    ({"step": "ship", "reason": " ", "confirm": "yes"}, "Give a reason"),
    ({"step": "deliver", "reason": "x", "confirm": "yes"}, "Step 6 is not done yet"),
    ({"step": "nope", "reason": "x", "confirm": "yes"}, "There is no step nope"),
])
def test_a_reset_that_cannot_be_done_says_why_and_changes_nothing(lesson, data, message):
    client, run = lesson["client"], lesson["runs"][0]
    play(run, until="deliver")
    before = world(run), db.session.scalar(db.select(db.func.count(Event.id)))
    response = post(client, f"/classroom/run/{run.id}/reset", data, headers=EN)
    assert response.status_code == 303
    assert message in text_of(page(client, response.headers["Location"]))
    assert (world(run), db.session.scalar(db.select(db.func.count(Event.id)))) == before
    assert db.session.scalar(db.select(Run).where(Run.archived_from_id == run.id)) is None


def test_only_the_owning_instructor_resets(lesson):
    run = lesson["runs"][0]
    play(run, until="deliver")
    make_user("other", is_instructor=True)
    other = lesson["app"].test_client()
    login(other, "other")
    assert reset_form(other, run, "ship").status_code == 404
    warehouse, _ = student(lesson, run, "warehouse")
    assert reset_form(warehouse, run, "ship").status_code in (403, 404)
    assert stock(run, "TEA-250") == 98


# ---- what the engine cannot compensate ----------------------------------------------------------

def test_a_certificate_password_of_the_students_own_cannot_be_replayed(app, english):
    """The lab keeps no student's certificate password: a reset past the signature is refused,
    names the reason, and changes nothing; before the certificate was requested it works."""
    user = make_user("student")
    scenario_roles = scenario_of(start_run("b2b-normal")).roles
    run = start_run("b2b-normal", seats={role: [user.id] for role in scenario_roles})
    play(run, until="cert-request")
    from lab.engine import Actor, perform
    perform(run.id, Actor("buyer", "student", user.id), "request_certificate", None,
            {"password": "my-own-secret"})
    play(run, until="pay")  # the bots sign… with the script's password: they cannot
    graded = grade_run(db.session.get(Run, run.id))
    if not next(s for s in graded.steps if s.id == "sign").resolved:
        perform(run.id, Actor("buyer", "student", user.id), "sign_contract",
                doc(run, "contract"), {"password": "my-own-secret"})
        play(run, until="pay")
    teacher = make_user("teacher", is_instructor=True)
    before = world(run)
    with pytest.raises(Exception) as refused:
        repair.reset(run, teacher.id, "remind", "again")
    assert "certificate password the student chose" in str(refused.value.message)
    assert world(run) == before

    repair.reset(run, teacher.id, "cert-request", "start the membership over")
    after = world(run)
    assert [n for n, kind, _ in after["documents"] if kind == "certificate"] == []
