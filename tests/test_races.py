"""Two people pressing the same button at the same moment: the action happens once."""
import threading

from lab.engine import Actor, perform
from lab.errors import AlreadyDone, DomainError
from lab.extensions import db
from lab.models import Document, Event, Transfer
from tests.helpers import act, balance, doc, start_run, stock


def race(app, n, fn):
    """Run fn(i) in n threads released together; return what each returned or raised."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        with app.app_context():
            barrier.wait()
            try:
                results[i] = fn(i)
            except DomainError as error:
                results[i] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def paid_order(run):
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    order = doc(run, "order")
    for role, action in (("supplier", "accept_order"), ("buyer", "pay_order"),
                         ("finance", "confirm_payment")):
        act(run, role, action, order)
    return order


def test_two_warehouse_clerks_ship_the_same_order_once(app):
    run = start_run("b2c-normal")
    order_id, run_id = paid_order(run).id, run.id
    results = race(app, 2, lambda i: perform(run_id, Actor("warehouse", "bot"), "ship_order",
                                             order_id))
    assert sum(1 for r in results if not isinstance(r, DomainError)) == 1
    loser = next(r for r in results if isinstance(r, DomainError))
    assert isinstance(loser, AlreadyDone)
    assert stock(run, "TEA-250") == 98
    assert db.session.query(Document).filter_by(kind="shipment").count() == 1
    assert db.session.query(Event).filter_by(action="ship_order", ok=True).count() == 1


def test_the_same_order_form_sent_twice_at_once_places_one_order(app):
    run_id = start_run("b2c-normal").id
    results = race(app, 2, lambda i: perform(
        run_id, Actor("buyer", "bot"), "place_order", None,
        {"lines": [{"sku": "TEA-250", "qty": 2}], "payment": "bank_transfer"},
        request_key="one-form-key"))
    assert sum(1 for r in results if not isinstance(r, DomainError)) == 1
    assert isinstance(next(r for r in results if isinstance(r, DomainError)), AlreadyDone)
    assert db.session.query(Document).filter_by(kind="order").count() == 1


def test_finance_approves_a_purchase_order_once_and_pays_the_vendor_once(app):
    run = start_run("b2c-out-of-stock")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 120}],
        payment="bank_transfer")
    act(run, "supplier", "forward_shortage", doc(run, "order"))
    act(run, "purchasing", "create_purchase_order", doc(run, "shortage"))
    po_id, run_id = doc(run, "purchase_order").id, run.id
    results = race(app, 3, lambda i: perform(run_id, Actor("finance", "bot"),
                                             "approve_purchase_order", po_id))
    assert sum(1 for r in results if not isinstance(r, DomainError)) == 1
    assert all(isinstance(r, AlreadyDone) for r in results if isinstance(r, DomainError))
    assert db.session.query(Transfer).filter_by(memo="vendor").count() == 1
    assert balance(run, "company") == "49000.00"  # 50000.00 - 20 x 50.00
    assert balance(run, "vendor:west-lake-farm") == "1000.00"


def test_many_buyers_racing_for_the_last_units_never_drive_stock_negative(app):
    run = start_run("b2c-normal")
    orders = []
    for _ in range(4):
        act(run, "buyer", "place_order", lines=[{"sku": "CUP-01", "qty": 15}],
            payment="cash_on_delivery")
        orders.append(doc(run, "order", len(orders) + 1))
    for order in orders:
        act(run, "supplier", "accept_order", order)
    ids, run_id = [o.id for o in orders], run.id
    results = race(app, 4, lambda i: perform(run_id, Actor("warehouse", "bot"), "ship_order",
                                             ids[i]))
    shipped = sum(1 for r in results if not isinstance(r, DomainError))
    assert shipped == 2  # 40 cups: two orders of 15 ship, the other two wait for stock
    assert stock(run, "CUP-01") == 10
