"""`flask --app run lab verify` (lab/verify.py): passes on played runs, and names the difference
(exit 1) when the database is changed behind the engine's back: a balance, a stock count, a
stock card, an event recorded twice, a document changed without an action, the run's bookmark."""
import pytest
from sqlalchemy import select, text

from lab.extensions import db
from lab.models import Document, Event, Product
from lab.verify import verify
from tests.helpers import doc, play, start_run


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["lab", "verify", *map(str, args)])
    return result.exit_code, result.output


@pytest.fixture
def played(app):
    """Three runs played to the end by bots: a return and refund, escrow and cash on delivery,
    and a B2B out-of-stock order (a vendor paid, a contract signed); and one run half done."""
    runs = {slug: play(start_run(slug)) for slug in ("b2c-return", "b2c-escrow-cod",
                                                     "b2b-out-of-stock")}
    runs["half"] = play(start_run("b2c-out-of-stock"), until="ship")
    return runs


def sql(statement, **params):
    db.session.execute(text(statement), params)
    db.session.commit()


def copy_event(event_id):
    sql("INSERT INTO event (run_id, at, user_id, actor, role, action, document_id, case_id, "
        "params, result, ok, error, request_key, world) SELECT run_id, at, user_id, actor, "
        "role, action, document_id, case_id, params, result, ok, error, NULL, world FROM event "
        "WHERE id = :id", id=event_id)


def last_event_id():
    return db.session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))


def accepted(run, action):
    return db.session.scalar(select(Event).where(Event.run_id == run.id, Event.action == action,
                                                 Event.ok.is_(True)).order_by(Event.id))


def corruptions(runs):
    """(what is done behind the engine's back, how to undo it, what verify must say)."""
    ret, b2b, half = runs["b2c-return"], runs["b2b-out-of-stock"], runs["half"]
    order = doc(ret, "order")
    state, updated = order.state, order.updated_at
    line, product = order.lines[0].id, order.lines[0].product_id
    elsewhere = db.session.scalar(select(Product.id).where(Product.run_id == half.id))
    ship = accepted(ret, "ship_order")
    place = accepted(ret, "place_order")
    return [
        (lambda: sql("UPDATE party SET balance_cents = balance_cents + 100 WHERE run_id = :r "
                     "AND key = 'buyer'", r=ret.id),
         lambda: sql("UPDATE party SET balance_cents = balance_cents - 100 WHERE run_id = :r "
                     "AND key = 'buyer'", r=ret.id),
         f"[ledgers] run {ret.id}: the bank account of buyer holds"),
        (lambda: sql("UPDATE product SET stock = stock + 3 WHERE run_id = :r", r=b2b.id),
         lambda: sql("UPDATE product SET stock = stock - 3 WHERE run_id = :r", r=b2b.id),
         "in stock, its stock card adds up to"),
        (lambda: sql("UPDATE stock_move SET stock_after = stock_after + 5 WHERE id = (SELECT "
                     "MIN(id) FROM stock_move WHERE run_id = :r)", r=half.id),
         lambda: sql("UPDATE stock_move SET stock_after = stock_after - 5 WHERE id = (SELECT "
                     "MIN(id) FROM stock_move WHERE run_id = :r)", r=half.id),
         f"[stock] run {half.id}: the stock card of"),
        (lambda: copy_event(ship.id),
         lambda: sql("DELETE FROM event WHERE id = :id", id=last_event_id()),
         f"[events] run {ret.id}: events {ship.id} and"),
        (lambda: copy_event(place.id),
         lambda: sql("DELETE FROM event WHERE id = :id", id=last_event_id()),
         "record the same action twice (place_order at"),
        (lambda: sql("UPDATE document SET state = 'placed', updated_at = :t, version = version "
                     "+ 1 WHERE id = :id", t=order.created_at.replace(year=2030), id=order.id),
         lambda: sql("UPDATE document SET state = :s, updated_at = :t, version = version - 1 "
                     "WHERE id = :id", s=state, t=updated, id=order.id),
         f"[documents] run {ret.id}: order {order.number} (placed) was last changed at 2030"),
        (lambda: sql("UPDATE run SET last_event_id = last_event_id - 1 WHERE id = :r", r=half.id),
         lambda: sql("UPDATE run SET last_event_id = last_event_id + 1 WHERE id = :r", r=half.id),
         f"[events] run {half.id}: the run's last event is"),
        (lambda: sql("UPDATE document_line SET product_id = :p WHERE id = :id", p=elsewhere,
                     id=line),
         lambda: sql("UPDATE document_line SET product_id = :p WHERE id = :id", p=product,
                     id=line),
         f"[references] run {ret.id}: document line {line}: its product is of run {half.id}"),
        (lambda: sql("DELETE FROM transfer WHERE id = (SELECT MAX(id) FROM transfer WHERE "
                     "run_id = :r)", r=b2b.id),
         None,
         f"[ledgers] run {b2b.id}: "),
    ]


def test_played_runs_pass_and_each_difference_made_behind_the_engines_back_is_named(app, played):
    code, out = cli(app)
    assert code == 0, out
    assert "Checked 4 runs" in out and "Consistent: no difference." in out
    report = verify()
    assert report.ok and report.counts["transfers"] >= 8 and report.counts["stock_moves"] >= 8
    assert any(d.kind == "contract" and d.state == "signed" for d in db.session.scalars(
        select(Document)))  # the signature check had a contract to check

    for corrupt, undo, message in corruptions(played):
        corrupt()
        code, out = cli(app)
        assert code == 1, (message, out)
        assert message in out and "NOT CONSISTENT" in out, (message, out)
        if undo is not None:
            undo()
            code, out = cli(app)
            assert code == 0, (message, out)

    # One run can be checked alone (the transfer deleted above is in the B2B run).
    assert cli(app, "--run", played["half"].id)[0] == 0
    code, out = cli(app, "--run", played["b2b-out-of-stock"].id)
    assert code == 1 and "Checked 1 run (" in out
