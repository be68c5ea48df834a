"""The engine without HTTP, the mall admin's actions (lab/engine/actions/admin.py: publish a
product, post a notice) and the instructor's injections (lab/engine/actions/inject.py)."""
import pytest

from lab.engine import Actor, perform
from lab.errors import Forbidden, InvalidInput, NotAllowed
from lab.extensions import db
from lab.models import Document, Product, StockMove
from tests.helpers import act, balance, doc, play, start_run, stock

pytestmark = pytest.mark.usefixtures("english")
GIFT = {"sku": "GIFT-01", "name": "Spring tea gift box", "price": "198.00", "stock": 10,
        "cost": "110.00", "vendor": "west-lake-farm"}


def test_publish_a_new_product_with_its_opening_stock(app):
    run = start_run("b2c-new-product")
    act(run, "mall_admin", "publish_product", **GIFT)
    product = db.session.scalar(db.select(Product).where(Product.sku == "GIFT-01"))
    assert (product.price_cents, product.cost_cents, product.vendor_key, product.stock) == (
        19800, 11000, "vendor:west-lake-farm", 10)
    move = db.session.scalars(db.select(StockMove)).one()
    assert (move.qty, move.stock_after, move.reason) == (10, 10, "publish")
    act(run, "buyer", "place_order", lines=[{"sku": "GIFT-01", "qty": 1}],
        payment="bank_transfer")
    assert doc(run, "order").amount_cents == 19800


def test_publishing_again_updates_the_price_and_adds_stock(app):
    run = start_run("b2c-new-product")
    act(run, "mall_admin", "publish_product", **GIFT)
    act(run, "mall_admin", "publish_product", **{**GIFT, "price": "188.00", "stock": 5})
    assert stock(run, "GIFT-01") == 15
    assert db.session.scalar(db.select(Product.price_cents)) == 18800
    assert db.session.query(Product).count() == 1


@pytest.mark.parametrize("field, value", [
    ("price", "-1"), ("price", "abc"), ("price", "1.005"), ("price", "2000000"),
    ("stock", "-5"), ("stock", "lots"), ("sku", ""), ("name", "x" * 201),
])
def test_publishing_bad_values_is_refused_and_changes_nothing(app, field, value):
    run = start_run("b2c-new-product")
    with pytest.raises(InvalidInput) as refused:
        act(run, "mall_admin", "publish_product", **{**GIFT, field: value})
    assert refused.value.field == field and refused.value.message
    assert db.session.query(Product).count() == 0


def test_only_the_mall_admin_publishes(app):
    run = start_run("b2c-new-product")
    with pytest.raises(Forbidden) as refused:
        act(run, "supplier", "publish_product", **GIFT)
    assert refused.value.message == "Only Mall admin may “Publish product”."


def test_post_a_notice(app):
    run = start_run("b2c-new-product")
    with pytest.raises(InvalidInput) as refused:
        act(run, "mall_admin", "post_notice", title="Spring", body="")
    assert refused.value.field == "body"
    act(run, "mall_admin", "post_notice", title="Spring", body="Gift boxes are here.")
    notice = doc(run, "notice")
    assert (notice.number, notice.state, notice.text, notice.data["title"]) == (
        "GG-0001", "posted", "Gift boxes are here.", "Spring")


def inject(run, action, document=None, **params):
    return perform(run.id, Actor("instructor", "instructor"), action, document, params)


def test_an_injected_stock_loss_cannot_drive_stock_below_zero(app):
    run = start_run("b2c-normal")
    inject(run, "inject_stock_loss", sku="CUP-01", qty=15)
    assert stock(run, "CUP-01") == 25
    with pytest.raises(NotAllowed) as refused:
        inject(run, "inject_stock_loss", sku="CUP-01", qty=26)
    assert refused.value.message.startswith("Only 25 of")
    assert stock(run, "CUP-01") == 25


def test_an_injected_payment_failure_gives_the_money_back(app):
    run = play(start_run("b2c-normal"), until="confirm-payment")
    order = doc(run, "order")
    assert order.payment == "paid"
    inject(run, "inject_payment_failure", order)
    assert doc(run, "order").payment == "unpaid"
    assert (balance(run, "buyer"), balance(run, "company")) == ("20000.00", "50000.00")
    with pytest.raises(NotAllowed):
        inject(run, "inject_payment_failure", order)
    act(run, "buyer", "pay_order", order)  # the buyer pays again
    assert balance(run, "buyer") == "19824.00"


def test_students_cannot_inject(app):
    run = start_run("b2c-normal")
    with pytest.raises(Forbidden):
        act(run, "buyer", "inject_stock_loss", sku="CUP-01", qty=1)
    assert db.session.query(Document).count() == 0 and stock(run, "CUP-01") == 40


def test_an_injected_return_request_starts_a_return_on_a_delivered_order(app):
    run = play(start_run("b2c-normal"), until="deliver")
    with pytest.raises(NotAllowed) as refused:
        inject(run, "inject_return_request", doc(run, "order"), reason="Box crushed")
    assert refused.value.need.action == "deliver_order"
    assert db.session.query(Document).filter_by(kind="return").count() == 0
    act(run, "logistics", "deliver_order", doc(run, "shipment"))
    inject(run, "inject_return_request", doc(run, "order"), reason="Box crushed")
    ret = doc(run, "return")
    assert (ret.state, ret.text, ret.amount_cents) == ("requested", "Box crushed", 17600)
    assert ret.case_id == doc(run, "order").id


def test_an_injected_notice_is_posted_and_marked_as_injected(app):
    run = start_run("b2c-normal")
    inject(run, "inject_notice", title="Typhoon", body="Deliveries are late today.")
    notice = doc(run, "notice")
    assert (notice.state, notice.text, notice.data["title"], notice.data["injected"]) == (
        "posted", "Deliveries are late today.", "Typhoon", True)
