"""The engine without HTTP, returns (lab/engine/actions/returns.py): request, approve or reject,
pick up, receive into stock, refund; each one's effect, guard and refusal. World: b2c-return
(3 cups at 35.00 delivered and received; 40 cups in stock before shipping)."""
import pytest

from lab.errors import AlreadyDone, InvalidInput, NotAllowed
from lab.extensions import db
from lab.models import Document
from tests.helpers import act, balance, doc, play, start_run, stock

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def received(app):
    """The order of 3 cups received and paid: 37 cups in stock, the buyer paid 105.00."""
    run = play(start_run("b2c-return"), until="return")
    assert (stock(run, "CUP-01"), balance(run, "buyer")) == (37, "4895.00")
    return run


def returns() -> int:
    return db.session.query(Document).filter_by(kind="return").count()


def test_request_a_return_of_part_of_an_order(received):
    run = received
    act(run, "buyer", "request_return", doc(run, "order"), reason="One cup arrived chipped",
        lines=[{"sku": "CUP-01", "qty": 1}])
    ret = doc(run, "return")
    assert (ret.number, ret.state, ret.amount_cents, ret.text) == (
        "TH-0001", "requested", 3500, "One cup arrived chipped")
    assert [(l.product.sku, l.qty) for l in ret.lines] == [("CUP-01", 1)]
    assert ret.case_id == doc(run, "order").id
    assert stock(run, "CUP-01") == 37 and balance(run, "buyer") == "4895.00"


def test_a_return_without_lines_returns_everything_left(received):
    run = received
    act(run, "buyer", "request_return", doc(run, "order"), reason="Wrong colour",
        lines=[{"sku": "CUP-01", "qty": 1}])
    act(run, "buyer", "request_return", doc(run, "order"), reason="The rest too")
    assert [l.qty for l in doc(run, "return", 2).lines] == [2]
    with pytest.raises(NotAllowed) as refused:
        act(run, "buyer", "request_return", doc(run, "order"), reason="Once more")
    assert refused.value.message == "Everything in SO-0001 is already being returned."
    assert returns() == 2


@pytest.mark.parametrize("params, field, message", [
    ({"reason": ""}, "reason", "Please fill in Reason."),
    ({"reason": "x", "lines": [{"sku": "CUP-01", "qty": 4}]}, "lines",
     "Only 3 of CUP-01 can still be returned."),
    ({"reason": "x", "lines": [{"sku": "CUP-01", "qty": 0}]}, "qty",
     "Quantity must be between 1 and 100000."),
    ({"reason": "x", "lines": [{"sku": "NOPE", "qty": 1}]}, "sku",
     "There is no product NOPE in this mall."),
])
def test_a_wrong_return_request_is_refused_and_changes_nothing(received, params, field,
                                                               message):
    run = received
    with pytest.raises(InvalidInput) as refused:
        act(run, "buyer", "request_return", doc(run, "order"), **params)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert returns() == 0


def test_a_return_before_delivery_names_the_delivery(app):
    run = play(start_run("b2c-return"), until="deliver")
    with pytest.raises(NotAllowed) as refused:
        act(run, "buyer", "request_return", doc(run, "order"), reason="Too slow")
    assert refused.value.need.action == "deliver_order"
    assert returns() == 0


def test_sales_approves_or_rejects_a_return_once(received):
    run = play(received, until="approve")
    ret = doc(run, "return")
    act(run, "supplier", "approve_return", ret)
    assert doc(run, "return").state == "approved"
    with pytest.raises(AlreadyDone):
        act(run, "supplier", "approve_return", ret)
    with pytest.raises(NotAllowed) as refused:
        act(run, "supplier", "reject_return", ret, reason="Changed our mind")
    assert "no longer possible" in refused.value.message


def test_a_rejected_return_ends_there(received):
    run = play(received, until="approve")
    ret = doc(run, "return")
    act(run, "supplier", "reject_return", ret, reason="Chips are not covered")
    ret = doc(run, "return")
    assert (ret.state, ret.data["reject_reason"]) == ("rejected", "Chips are not covered")
    with pytest.raises(NotAllowed) as refused:
        act(run, "logistics", "pick_up_return", ret)
    assert refused.value.message == ("TH-0001 is rejected: “Pick up the return” is no longer "
                                     "possible.")


def test_pick_up_before_approval_names_sales(received):
    run = play(received, until="approve")
    with pytest.raises(NotAllowed) as refused:
        act(run, "logistics", "pick_up_return", doc(run, "return"))
    assert refused.value.need.action == "approve_return"
    assert "First Sales department must “Approve return”" in refused.value.message


def test_receiving_a_return_puts_the_goods_back_in_stock(received):
    run = play(received, until="receive")
    assert doc(run, "return").state == "picked_up"
    act(run, "warehouse", "receive_return", doc(run, "return"))
    assert doc(run, "return").state == "received" and stock(run, "CUP-01") == 38
    with pytest.raises(AlreadyDone):
        act(run, "warehouse", "receive_return", doc(run, "return"))
    assert stock(run, "CUP-01") == 38


def test_refund_before_the_goods_are_back_names_the_warehouse(received):
    run = play(received, until="receive")
    with pytest.raises(NotAllowed) as refused:
        act(run, "finance", "refund", doc(run, "return"))
    assert refused.value.need.action == "receive_return"
    assert balance(run, "buyer") == "4895.00"


def test_refund_pays_the_buyer_back_once(received):
    run = play(received, until="refund")
    act(run, "finance", "refund", doc(run, "return"))
    assert doc(run, "return").state == "refunded"
    assert (balance(run, "buyer"), balance(run, "company")) == ("4930.00", "20070.00")
    assert doc(run, "order").payment == "confirmed"  # one cup of three: not all refunded
    with pytest.raises(AlreadyDone):
        act(run, "finance", "refund", doc(run, "return"))
    assert balance(run, "buyer") == "4930.00"


def test_a_full_refund_marks_the_order_refunded(received):
    run = received
    act(run, "buyer", "request_return", doc(run, "order"), reason="All broken")
    ret = doc(run, "return")
    for role, action in (("supplier", "approve_return"), ("logistics", "pick_up_return"),
                         ("warehouse", "receive_return"), ("finance", "refund")):
        act(run, role, action, ret)
    assert doc(run, "order").payment == "refunded"
    assert (balance(run, "buyer"), stock(run, "CUP-01")) == ("5000.00", 40)


def test_a_refund_while_the_money_is_still_in_escrow_comes_from_escrow(app):
    run = play(start_run("b2c-escrow-cod"), until="escrow-receipt")
    order = doc(run, "order")
    assert balance(run, "escrow") == "260.00"
    act(run, "buyer", "request_return", order, reason="Lid cracked")
    ret = doc(run, "return")
    for role, action in (("supplier", "approve_return"), ("logistics", "pick_up_return"),
                         ("warehouse", "receive_return"), ("finance", "refund")):
        act(run, role, action, ret)
    assert (balance(run, "buyer"), balance(run, "escrow"), balance(run, "company")) == (
        "3000.00", "0.00", "10000.00")
    assert stock(run, "POT-01") == 10
