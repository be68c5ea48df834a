"""Bad input gets a clear message and changes nothing: a form is sent back (303) to the page it
came from with the message flashed there; a request asking for JSON gets the 4xx."""
import pytest

from lab.extensions import db
from lab.models import Document, Event, Party, Product
from tests.helpers import doc, login, make_user, post, start_run


def snapshot():
    db.session.expire_all()
    return (db.session.query(Document).count(),
            db.session.query(Event).filter_by(ok=True).count(),
            tuple(p.stock for p in db.session.query(Product).order_by(Product.id)),
            tuple(p.balance_cents for p in db.session.query(Party).order_by(Party.id)))


def refused_form(client, url, data, status):
    """Post a form the lab refuses: 303 back to the form's page, which shows the reason; the
    same request asking for JSON answers `status`. Returns (page text, JSON answer)."""
    en = {"Accept-Language": "en"}
    r = post(client, url, data, headers=en)
    assert r.status_code == 303, r.status_code
    page = client.get(r.headers["Location"], headers=en).get_data(as_text=True)
    assert 'id="action-error"' in page
    j = post(client, url, data, headers={**en, "Accept": "application/json"})
    assert j.status_code == status and j.get_json()["ok"] is False
    return page, j.get_json()


@pytest.fixture
def buyer(app):
    user = make_user("stu")
    run = start_run("b2c-normal", seats={"buyer": [user.id]})
    other = start_run("b2c-normal", seats={"supplier": [user.id]})
    client = app.test_client()
    login(client, "stu")
    return run, other, client


@pytest.mark.parametrize("qty, fragment", [
    ("0", "between 1 and 100000"), ("-3", "between 1 and 100000"),
    (str(10**9), "between 1 and 100000"), ("ten", "whole number"), ("", "Please fill in"),
])
def test_bad_quantity(buyer, qty, fragment):
    run, _, client = buyer
    before = snapshot()
    page, answer = refused_form(client, f"/run/{run.id}/buyer/act/place_order",
                                {"sku": "TEA-250", "qty": qty, "payment": "bank_transfer"}, 400)
    assert fragment in page and fragment in answer["error"]
    assert snapshot() == before


@pytest.mark.parametrize("qty, fragment", [
    ("0", "between 1 and 100000"), ("-1", "between 1 and 100000"),
    (str(10**9), "between 1 and 100000"), ("ten", "whole number"),
])
def test_bad_quantity_in_the_cart_is_refused(buyer, qty, fragment):
    run, _, client = buyer
    before = snapshot()
    r = post(client, f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": qty},
             headers={"Accept-Language": "en"}, follow_redirects=True)
    assert fragment in r.get_data(as_text=True)
    assert "Your cart is empty" in r.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("sku, qty, status", [("TEA-250", "0", 400), ("TEA-250", "ten", 400),
                                              ("NOPE-1", "1", 404)])
def test_bad_cart_input_goes_back_to_the_shop_or_answers_4xx(buyer, sku, qty, status):
    run, _, client = buyer
    before = snapshot()
    page, answer = refused_form(client, f"/run/{run.id}/buyer/cart", {"sku": sku, "qty": qty},
                                status)
    assert f'data-error-sku="{sku}"' in page and answer["field"] in ("qty", "sku")
    assert snapshot() == before


def test_unknown_product_in_the_cart(buyer):
    run, _, client = buyer
    before = snapshot()
    r = post(client, f"/run/{run.id}/buyer/cart", {"sku": "NOPE-1", "qty": "1"},
             headers={"Accept-Language": "en"}, follow_redirects=True)
    assert "There is no product NOPE-1 in this mall." in r.get_data(as_text=True)
    assert "Your cart is empty" in r.get_data(as_text=True)
    assert snapshot() == before


def test_unknown_product(buyer):
    run, _, client = buyer
    before = snapshot()
    page, _ = refused_form(client, f"/run/{run.id}/buyer/act/place_order",
                           {"sku": "NOPE-1", "qty": "1", "payment": "bank_transfer"}, 400)
    assert "There is no product NOPE-1" in page
    assert snapshot() == before


def test_unknown_payment_method(buyer):
    run, _, client = buyer
    before = snapshot()
    page, answer = refused_form(client, f"/run/{run.id}/buyer/act/place_order",
                                {"sku": "TEA-250", "qty": "1", "payment": "bitcoin"}, 400)
    assert "must be one of" in page and answer["field"] == "payment"
    assert 'data-error-field="payment"' in page
    assert snapshot() == before


@pytest.mark.parametrize("doc_id", ["999999", "abc", ""])
def test_unknown_order_id(buyer, doc_id):
    run, _, client = buyer
    before = snapshot()
    page, _ = refused_form(client, f"/run/{run.id}/buyer/act/pay_order", {"doc": doc_id}, 404)
    assert "does not exist in this run" in page
    assert snapshot() == before


def test_another_runs_order_id(buyer):
    run, other, client = buyer
    post(client, f"/run/{run.id}/buyer/act/place_order",
         {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": "k" * 10})
    order = doc(run, "order")
    before = snapshot()
    page, _ = refused_form(client, f"/run/{other.id}/supplier/act/accept_order",
                           {"doc": order.id}, 404)
    assert "does not exist in this run" in page
    assert snapshot() == before and doc(run, "order").state == "placed"


def test_an_action_the_role_does_not_have(buyer):
    run, _, client = buyer
    before = snapshot()
    page, _ = refused_form(client, f"/run/{run.id}/buyer/act/approve_purchase_order",
                           {"doc": "1"}, 403)
    assert "Only Finance department may" in page
    assert post(client, f"/run/{run.id}/buyer/act/teleport", {}).status_code == 404
    assert snapshot() == before


def test_unknown_run_and_console_urls(buyer):
    _, _, client = buyer
    assert client.get("/run/99999/buyer/").status_code == 404
    assert client.get("/run/1/nosuchrole/").status_code == 404


def test_form_without_csrf_token(buyer):
    run, _, client = buyer
    before = snapshot()
    r = client.post(f"/run/{run.id}/buyer/act/place_order",
                    data={"sku": "TEA-250", "qty": "1", "payment": "bank_transfer"},
                    headers={"Accept-Language": "en"})
    assert r.status_code == 400 and snapshot() == before
    assert "security token" in r.get_data(as_text=True)
    forged = client.post(f"/run/{run.id}/buyer/act/place_order",
                         data={"sku": "TEA-250", "qty": "1", "payment": "bank_transfer",
                               "csrf_token": "forged"})
    assert forged.status_code == 400 and snapshot() == before


def test_a_product_line_without_its_quantity_is_refused(buyer):
    run, _, client = buyer
    before = snapshot()
    page, answer = refused_form(client, f"/run/{run.id}/buyer/act/place_order",
                                {"sku": ["TEA-250", "CUP-01"], "qty": ["2"],
                                 "payment": "bank_transfer"}, 400)
    assert answer["error"] in page
    assert snapshot() == before
