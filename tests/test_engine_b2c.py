"""The engine without HTTP: the B2C normal order, action by action."""
import pytest
from flask_babel import force_locale

from lab.errors import AlreadyDone, Forbidden, InvalidInput, NotAllowed
from tests.conftest import act, balance, doc, start_run, stock


def test_normal_order_moves_stock_and_money(app):
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    order = doc(run, "order")
    assert (order.state, order.payment, order.amount_cents) == ("placed", "unpaid", 17600)
    act(run, "supplier", "accept_order", order)
    act(run, "buyer", "pay_order", order)
    assert balance(run, "buyer") == "19824.00"  # 20000.00 - 176.00
    assert balance(run, "company") == "50176.00"
    act(run, "finance", "confirm_payment", order)
    act(run, "warehouse", "ship_order", order)
    assert stock(run, "TEA-250") == 98
    act(run, "logistics", "deliver_order", doc(run, "shipment"))
    act(run, "buyer", "confirm_receipt", order)
    order = doc(run, "order")
    assert (order.state, order.payment) == ("received", "confirmed")


def test_shipping_before_payment_names_what_comes_first(app):
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    order = doc(run, "order")
    with pytest.raises(NotAllowed) as refused:
        act(run, "warehouse", "ship_order", order)
    assert refused.value.need.action == "accept_order"
    act(run, "supplier", "accept_order", order)
    with pytest.raises(NotAllowed) as refused:
        act(run, "warehouse", "ship_order", order)
    assert refused.value.need.action == "pay_order"
    with force_locale("en"):
        assert "Not paid yet" in refused.value.message
    with force_locale("zh"):
        assert "尚未付款" in refused.value.message
    assert stock(run, "TEA-250") == 100


def test_ship_twice_ships_once(app):
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    order = doc(run, "order")
    for action, role in (("accept_order", "supplier"), ("pay_order", "buyer"),
                         ("confirm_payment", "finance"), ("ship_order", "warehouse")):
        act(run, role, action, order)
    with pytest.raises(AlreadyDone):
        act(run, "warehouse", "ship_order", order)
    assert stock(run, "TEA-250") == 98


@pytest.mark.parametrize("qty", [0, -1, 10**9, "ten"])
def test_bad_quantity_is_refused_and_changes_nothing(app, qty):
    run = start_run("b2c-normal")
    with pytest.raises(InvalidInput) as refused:
        act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": qty}],
            payment="bank_transfer")
    assert refused.value.field == "qty"
    from lab.models import Document
    from lab.extensions import db
    assert db.session.query(Document).count() == 0


def test_wrong_role_is_forbidden(app):
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    with pytest.raises(Forbidden):
        act(run, "buyer", "accept_order", doc(run, "order"))


def test_refusal_in_a_scenario_run_names_the_step_that_comes_first(app):
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 2}],
        payment="bank_transfer")
    order = doc(run, "order")
    act(run, "supplier", "accept_order", order)
    with pytest.raises(NotAllowed) as refused:
        act(run, "warehouse", "ship_order", order)
    assert refused.value.step == {"number": 3, "id": "pay"}
    with force_locale("en"):
        assert refused.value.message == ("Not paid yet: SO-0001 ships after payment. First "
                                         "Buyer must “Pay”. (Step 3 of the scenario.)")


@pytest.mark.parametrize("slug, first", [
    ("b2c-normal", ("place_order", {"lines": [{"sku": "TEA-250", "qty": 2}],
                                    "payment": "bank_transfer"})),
    ("b2b-rfq", ("send_inquiry", {"sku": "TEA-5KG", "qty": 3})),
])
def test_every_action_can_be_dry_run_without_its_inputs(app, slug, first):
    """Consoles and the guide ask check() before any form is filled: no action may need its
    inputs to say whether it is possible (this once was a 500 on the B2B certificate)."""
    from lab.engine import Actor, check, registry
    from lab.models import Document
    from lab.extensions import db
    run = start_run(slug)
    act(run, "buyer", first[0], **first[1])
    docs = db.session.scalars(db.select(Document)).all()
    checked = 0
    for action in registry.REGISTRY.values():
        targets = [d for d in docs if d.kind == action.on] if action.on else [None]
        for target in targets:
            refusal = check(run, Actor(action.role, "bot"), action.name, target)
            assert refusal is None or refusal.message
            checked += 1
    assert checked >= 8
