"""The engine without HTTP, out-of-stock actions (lab/engine/actions/purchasing.py): forward a
shortage, raise, approve or reject a purchase order, carry the goods in, receive them into
stock; each one's effect, guard and refusal. World: b2c-out-of-stock (TEA-250: 100 in stock,
cost 50.00 from West Lake Farm; the company has 50,000.00)."""
import pytest

from lab.errors import AlreadyDone, Forbidden, InvalidInput, NotAllowed
from lab.extensions import db
from lab.models import Document, StockMove
from tests.helpers import act, balance, doc, play, start_run, stock

pytestmark = pytest.mark.usefixtures("english")


def count(kind) -> int:
    return db.session.query(Document).filter_by(kind=kind).count()


@pytest.fixture
def short(app):
    """An order of 120 accepted with 100 in stock."""
    return play(start_run("b2c-out-of-stock"), until="shortage")


def test_forward_shortage_opens_a_shortage_for_what_is_missing(short):
    run = short
    act(run, "supplier", "forward_shortage", doc(run, "order"))
    shortage = doc(run, "shortage")
    assert (shortage.number, shortage.state, shortage.qty) == ("QH-0001", "open", 20)
    assert shortage.case_id == doc(run, "order").id and shortage.parent_id == doc(run, "order").id
    assert doc(run, "order").state == "accepted" and stock(run, "TEA-250") == 100


def test_forward_shortage_may_ask_for_more_but_not_less(short):
    run = short
    with pytest.raises(InvalidInput) as refused:
        act(run, "supplier", "forward_shortage", doc(run, "order"), qty=19)
    assert refused.value.field == "qty"
    assert refused.value.message == "20 are missing: forward at least 20."
    assert count("shortage") == 0
    act(run, "supplier", "forward_shortage", doc(run, "order"), qty=30)
    assert doc(run, "shortage").qty == 30


def test_forward_shortage_twice_is_already_done(short):
    run = short
    act(run, "supplier", "forward_shortage", doc(run, "order"))
    with pytest.raises(AlreadyDone):
        act(run, "supplier", "forward_shortage", doc(run, "order"))
    assert count("shortage") == 1


def test_forward_shortage_with_enough_stock_is_refused(app):
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    with pytest.raises(NotAllowed) as refused:
        act(run, "supplier", "forward_shortage", doc(run, "order"))
    assert refused.value.message == "There is enough stock for SO-0001: nothing to forward."
    assert count("shortage") == 0


def test_purchase_order_defaults_to_the_products_vendor_and_the_missing_quantity(short):
    run = play(short, until="po")
    act(run, "purchasing", "create_purchase_order", doc(run, "shortage"))
    po = doc(run, "purchase_order")
    assert (po.number, po.state, po.qty, po.party_key, po.amount_cents) == (
        "PO-0001", "submitted", 20, "vendor:west-lake-farm", 20 * 5000)
    assert doc(run, "shortage").state == "ordered"
    assert balance(run, "company") == "50000.00"  # nothing paid before finance approves
    with pytest.raises(AlreadyDone):
        act(run, "purchasing", "create_purchase_order", doc(run, "shortage"))


@pytest.mark.parametrize("params, field, message", [
    ({"vendor": "nobody"}, "vendor", "There is no vendor nobody in this run."),
    ({"qty": 5}, "qty", "The shortage is 20: order at least 20."),
    ({"qty": 0}, "qty", "Quantity must be between 1 and 100000."),
])
def test_purchase_order_refuses_a_wrong_vendor_or_quantity(short, params, field, message):
    run = play(short, until="po")
    with pytest.raises(InvalidInput) as refused:
        act(run, "purchasing", "create_purchase_order", doc(run, "shortage"), **params)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert count("purchase_order") == 0 and doc(run, "shortage").state == "open"


def test_shipping_a_paid_order_beyond_stock_names_the_shortage(short):
    run = short
    order = doc(run, "order")
    act(run, "buyer", "pay_order", order)
    act(run, "finance", "confirm_payment", order)
    with pytest.raises(NotAllowed) as refused:
        act(run, "warehouse", "ship_order", doc(run, "order"))
    assert refused.value.need.action == "forward_shortage"
    assert refused.value.need.role == "supplier"
    assert refused.value.message.startswith("Only 100 in stock, 120 ordered")
    assert stock(run, "TEA-250") == 100


def test_finance_approves_and_pays_the_vendor_once(short):
    run = play(short, until="po-ok")
    po = doc(run, "purchase_order")
    act(run, "finance", "approve_purchase_order", po)
    assert doc(run, "purchase_order").state == "approved"
    assert (balance(run, "company"), balance(run, "vendor:west-lake-farm")) == (
        "49000.00", "1000.00")
    with pytest.raises(AlreadyDone):
        act(run, "finance", "approve_purchase_order", po)
    assert balance(run, "company") == "49000.00"


def test_only_finance_approves_purchase_orders(short):
    run = play(short, until="po-ok")
    with pytest.raises(Forbidden) as refused:
        act(run, "purchasing", "approve_purchase_order", doc(run, "purchase_order"))
    assert refused.value.message == "Only Finance department may “Approve and pay the vendor”."


def test_rejecting_a_purchase_order_reopens_the_shortage_for_a_new_one(short):
    run = play(short, until="po-ok")
    po = doc(run, "purchase_order")
    with pytest.raises(InvalidInput) as refused:
        act(run, "finance", "reject_purchase_order", po, reason="")
    assert refused.value.field == "reason"
    act(run, "finance", "reject_purchase_order", po, reason="Too expensive")
    po = doc(run, "purchase_order")
    assert (po.state, po.text) == ("rejected", "Too expensive")
    assert doc(run, "shortage").state == "open" and balance(run, "company") == "50000.00"
    with pytest.raises(NotAllowed) as refused:
        act(run, "finance", "approve_purchase_order", po)
    assert "no longer possible" in refused.value.message
    act(run, "purchasing", "create_purchase_order", doc(run, "shortage"))
    assert doc(run, "purchase_order", 2).state == "submitted"


def test_carrying_goods_in_before_approval_names_finance(short):
    run = play(short, until="po-ok")
    with pytest.raises(NotAllowed) as refused:
        act(run, "logistics", "deliver_inbound", doc(run, "purchase_order"))
    assert refused.value.need.action == "approve_purchase_order"
    assert "First Finance department must “Approve and pay the vendor”" in refused.value.message
    assert count("inbound") == 0


def test_carrying_goods_in_makes_an_inbound_delivery(short):
    run = play(short, until="carry-in")
    act(run, "logistics", "deliver_inbound", doc(run, "purchase_order"))
    inbound = doc(run, "inbound")
    assert (inbound.number, inbound.state, inbound.qty) == ("RK-0001", "arrived", 20)
    assert doc(run, "purchase_order").state == "delivered"
    assert stock(run, "TEA-250") == 100  # not in stock until the warehouse receives it


def test_receiving_counts_the_goods_into_stock(short):
    run = play(short, until="stock-in")
    inbound = doc(run, "inbound")
    with pytest.raises(InvalidInput) as refused:
        act(run, "warehouse", "receive_inbound", inbound, qty=19)
    assert refused.value.message == ("The purchase order says 20, you counted 19: count "
                                     "again.")
    assert stock(run, "TEA-250") == 100
    act(run, "warehouse", "receive_inbound", inbound, qty=20)
    assert stock(run, "TEA-250") == 120
    assert (doc(run, "inbound").state, doc(run, "purchase_order").state,
            doc(run, "shortage").state) == ("received", "received", "filled")
    move = db.session.scalars(db.select(StockMove).where(StockMove.reason == "inbound")).one()
    assert (move.qty, move.stock_after) == (20, 120)
    with pytest.raises(AlreadyDone):
        act(run, "warehouse", "receive_inbound", inbound)
    assert stock(run, "TEA-250") == 120


def test_shipping_before_the_goods_are_in_names_the_next_restocking_step(short):
    run = play(short, until="carry-in")
    order = doc(run, "order")
    act(run, "buyer", "pay_order", order)
    act(run, "finance", "confirm_payment", order)
    with pytest.raises(NotAllowed) as refused:
        act(run, "warehouse", "ship_order", order)
    assert refused.value.need.action == "deliver_inbound"
    assert refused.value.message.startswith("The goods for SO-0001 are not in the warehouse yet")


def test_the_whole_out_of_stock_flow_ends_with_stock_zero_and_money_conserved(app):
    run = play(start_run("b2c-out-of-stock"))
    assert stock(run, "TEA-250") == 0  # 100 + 20 in, 120 out
    assert doc(run, "order").state == "received"
    assert (balance(run, "buyer"), balance(run, "company"),
            balance(run, "vendor:west-lake-farm")) == ("9440.00", "59560.00", "1000.00")
    assert 9440 + 59560 + 1000 == 20000 + 50000
