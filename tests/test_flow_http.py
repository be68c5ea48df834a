"""Seven logged-in students carry a B2C order through their consoles' forms."""

import re

import pytest

from lab.engine import Actor, perform
from lab.extensions import db
from lab.models import Document, Event, Run
from tests.helpers import balance, doc, login, make_user, post, start_run, stock

ROLES = ("mall_admin", "buyer", "supplier", "warehouse", "finance", "purchasing", "logistics")


@pytest.fixture
def classroom(app):
    users = {role: make_user(f"stu-{role}") for role in ROLES}
    run = start_run("b2c-normal", seats={role: [u.id] for role, u in users.items()})
    clients = {}
    for role in ROLES:
        clients[role] = app.test_client()
        login(clients[role], f"stu-{role}")
    return run, clients


def act_http(client, run, role, action, document=None, **fields):
    data = {"request_key": f"k{role}{action}{document.id if document else ''}x1234", **fields}
    if document is not None:
        data["doc"] = document.id
    return post(client, f"/run/{run.id}/{role}/act/{action}", data)


def cents(amount: str) -> int:
    units, _, hundredths = amount.partition(".")
    return int(units) * 100 + int(hundredths)


def state(run, kind="order"):
    d = doc(run, kind)
    db.session.refresh(d)
    return d.state, d.payment


def test_seven_students_take_an_order_to_receipt(classroom):
    run, c = classroom
    buyer_before, company_before = balance(run, "buyer"), balance(run, "company")
    r = post(c["buyer"], f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    assert r.status_code == 302
    page = c["buyer"].get(f"/run/{run.id}/buyer/").get_data(as_text=True)
    assert "176.00" in page  # the cart's total
    r = post(c["buyer"], f"/run/{run.id}/buyer/checkout",
             {"payment": "bank_transfer", "request_key": "checkout-key-1"})
    assert r.status_code == 302
    assert state(run) == ("placed", "unpaid")
    order = doc(run, "order")
    assert [(l.product.sku, l.qty, l.price_cents) for l in order.lines] == [("TEA-250", 2, 8800)]
    sales_inbox = c["supplier"].get(f"/run/{run.id}/supplier/live").get_json()["parts"]["inbox"]
    assert order.number in sales_inbox and "/act/accept_order" in sales_inbox

    assert act_http(c["supplier"], run, "supplier", "accept_order", order).status_code == 302
    assert state(run) == ("accepted", "unpaid")
    assert act_http(c["buyer"], run, "buyer", "pay_order", order).status_code == 302
    assert state(run) == ("accepted", "paid")
    assert act_http(c["finance"], run, "finance", "confirm_payment", order).status_code == 302
    assert state(run) == ("accepted", "confirmed")
    assert act_http(c["warehouse"], run, "warehouse", "ship_order", order).status_code == 302
    assert state(run) == ("shipped", "confirmed") and stock(run, "TEA-250") == 98
    shipment = doc(run, "shipment")
    assert act_http(c["logistics"], run, "logistics", "deliver_order", shipment).status_code == 302
    assert state(run) == ("delivered", "confirmed")
    assert act_http(c["buyer"], run, "buyer", "confirm_receipt", order).status_code == 302
    assert state(run) == ("received", "confirmed")

    assert cents(buyer_before) - cents(balance(run, "buyer")) == 17600
    assert cents(balance(run, "company")) - cents(company_before) == 17600
    assert stock(run, "TEA-250") == 98
    ledger = c["finance"].get(f"/run/{run.id}/finance/ledger").get_data(as_text=True)
    assert "50,176.00" in ledger and "19,824.00" not in ledger  # not the buyer's own balance


def test_shipping_twice_ships_once_and_says_who_did_it(classroom):
    run, c = classroom
    post(c["buyer"], f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    post(c["buyer"], f"/run/{run.id}/buyer/checkout", {"payment": "bank_transfer"})
    order = doc(run, "order")
    act_http(c["supplier"], run, "supplier", "accept_order", order)
    act_http(c["buyer"], run, "buyer", "pay_order", order)
    act_http(c["finance"], run, "finance", "confirm_payment", order)
    first = act_http(c["warehouse"], run, "warehouse", "ship_order", order)
    second = post(c["warehouse"], f"/run/{run.id}/warehouse/act/ship_order",
                  {"doc": order.id, "request_key": "another-key-99"}, follow_redirects=True)
    assert first.status_code == 302 and second.status_code == 200
    page = second.get_data(as_text=True)
    assert "alert-warning" in page
    assert "Already done" in page or "已经办理" in page
    assert stock(run, "TEA-250") == 98
    assert db.session.query(Document).filter_by(kind="shipment").count() == 1


def test_double_checkout_with_one_form_places_one_order(classroom):
    run, c = classroom
    post(c["buyer"], f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    post(c["buyer"], f"/run/{run.id}/buyer/checkout", {"payment": "bank_transfer",
                                                        "request_key": "same-form-key"})
    post(c["buyer"], f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    again = post(c["buyer"], f"/run/{run.id}/buyer/checkout", {"payment": "bank_transfer",
                                                                "request_key": "same-form-key"},
                 headers={"Accept-Language": "en"})
    assert again.status_code == 303 and again.headers["Location"].endswith("/buyer/#cart")
    page = c["buyer"].get(again.headers["Location"],
                          headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "alert-warning" in page and "Already done: this form was sent before." in page
    assert 'id="cart-total">¥176.00' in page  # the second cart was not ordered: still there
    assert db.session.query(Document).filter_by(kind="order").count() == 1


def test_a_buyer_cannot_open_the_finance_console(classroom):
    run, c = classroom
    assert c["buyer"].get(f"/run/{run.id}/finance/").status_code == 403
    assert act_http(c["buyer"], run, "finance", "confirm_payment").status_code == 403


def test_a_form_without_csrf_token_changes_nothing(classroom):
    run, c = classroom
    r = c["buyer"].post(f"/run/{run.id}/buyer/act/place_order",
                        data={"sku": "TEA-250", "qty": "2", "payment": "bank_transfer"})
    assert r.status_code == 400
    assert "security token" in r.get_data(as_text=True) or "安全令牌" in r.get_data(as_text=True)
    assert db.session.query(Document).count() == 0


def test_a_refused_action_goes_back_to_the_console_with_the_reason(classroom):
    run, c = classroom
    post(c["buyer"], f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    post(c["buyer"], f"/run/{run.id}/buyer/checkout", {"payment": "bank_transfer"})
    order = doc(run, "order")
    r = act_http(c["warehouse"], run, "warehouse", "ship_order", order)
    # Post/redirect/get: the answer is a redirect, so reloading the page sends nothing again.
    assert r.status_code == 303 and r.headers["Location"] == f"/run/{run.id}/warehouse/"
    text = c["warehouse"].get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="action-error"' in text and order.number in text
    assert f'data-error-path="/run/{run.id}/warehouse/act/ship_order"' in text
    assert f'data-error-doc="{order.id}"' in text
    # The reason is shown once: the next page is clean.
    assert 'id="action-error"' not in c["warehouse"].get(r.headers["Location"]).get_data(
        as_text=True)
    refused = db.session.scalars(db.select(Event).where(Event.ok.is_(False))).all()
    assert len(refused) == 1 and refused[0].role == "warehouse"
    assert stock(run, "TEA-250") == 100 and state(run) == ("placed", "unpaid")


def test_a_refused_action_on_a_document_page_goes_back_to_that_page(classroom):
    run, c = classroom
    post(c["buyer"], f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    post(c["buyer"], f"/run/{run.id}/buyer/checkout", {"payment": "bank_transfer"})
    order = doc(run, "order")
    page = f"/run/{run.id}/warehouse/doc/{order.id}"
    r = act_http(c["warehouse"], run, "warehouse", "ship_order", order, next=page)
    assert r.status_code == 303 and r.headers["Location"] == page
    text = c["warehouse"].get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="action-error"' in text and order.number in text
    # Never elsewhere than this site.
    r = act_http(c["warehouse"], run, "warehouse", "ship_order", order,
                 next="https://evil.example/")
    assert r.status_code == 303 and r.headers["Location"] == f"/run/{run.id}/warehouse/"


def test_a_refused_action_asked_as_json_answers_json_with_its_status(classroom):
    run, c = classroom
    post(c["buyer"], f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    post(c["buyer"], f"/run/{run.id}/buyer/checkout", {"payment": "bank_transfer"})
    order = doc(run, "order")
    r = post(c["warehouse"], f"/run/{run.id}/warehouse/act/ship_order",
             {"doc": order.id, "request_key": "json-form-key-1"},
             headers={"Accept": "application/json", "Accept-Language": "en"})
    assert r.status_code == 409 and r.get_json()["ok"] is False
    assert order.number in r.get_json()["error"]


def test_reloading_a_refused_form_costs_one_mistake_only(classroom):
    run, c = classroom
    post(c["buyer"], f"/run/{run.id}/buyer/cart", {"sku": "TEA-250", "qty": "2"})
    post(c["buyer"], f"/run/{run.id}/buyer/checkout", {"payment": "bank_transfer"})
    order = doc(run, "order")
    for _ in range(3):  # the same form (same one-time key) sent again, e.g. by a reload
        r = act_http(c["warehouse"], run, "warehouse", "ship_order", order)
        assert r.status_code == 303
    refused = db.session.scalars(db.select(Event).where(Event.ok.is_(False))).all()
    assert len(refused) == 1
    from lab.runs import grade_run
    assert len(grade_run(run).mistakes) == 1
    # A new form (a new key) is a new attempt: that one counts.
    r = post(c["warehouse"], f"/run/{run.id}/warehouse/act/ship_order",
             {"doc": order.id, "request_key": "another-form-key"})
    assert r.status_code == 303
    assert db.session.query(Event).filter_by(ok=False).count() == 2
    assert stock(run, "TEA-250") == 100


def test_add_to_cart_sent_twice_adds_once(classroom):
    run, c = classroom
    for _ in range(2):
        post(c["buyer"], f"/run/{run.id}/buyer/cart",
             {"sku": "TEA-250", "qty": "2", "request_key": "cart-form-key-1"})
    page = c["buyer"].get(f"/run/{run.id}/buyer/").get_data(as_text=True)
    assert 'id="cart-total">¥176.00' in page


def test_a_console_refreshes_every_part_in_one_answer(classroom):
    run, c = classroom
    post(c["buyer"], f"/run/{run.id}/buyer/act/place_order",
         {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": "k" * 12})
    answer = c["supplier"].get(f"/run/{run.id}/supplier/live").get_json()
    parts = answer["parts"]
    assert set(parts) == {"inbox", "panels", "history", "guide"}
    assert answer["last"] == db.session.get(Run, run.id).last_event_id
    assert "/act/accept_order" in parts["inbox"] and "SO-0001" in parts["panels"]
    assert f'name="next" value="/run/{run.id}/supplier/"' in parts["inbox"]
    assert c["buyer"].get(f"/run/{run.id}/supplier/live").status_code == 403


@pytest.mark.parametrize("part", ["live", ""])
def test_an_action_landing_while_a_console_renders_does_not_split_the_page(classroom, app,
                                                                          monkeypatch, part):
    """Finance confirms the payment while the warehouse's console is half rendered (its inbox
    read, its guide not yet): the warehouse must not see the guide ask for shipping with no
    shipping form in its inbox. Both parts show the run after the confirmation."""
    import roles.common
    run, c = classroom
    post(c["buyer"], f"/run/{run.id}/buyer/act/place_order",
         {"sku": "TEA-250", "qty": "2", "payment": "bank_transfer", "request_key": "k" * 12})
    order = doc(run, "order")
    act_http(c["supplier"], run, "supplier", "accept_order", order)
    act_http(c["buyer"], run, "buyer", "pay_order", order)
    real_inbox, landed = roles.common.inbox, []

    def inbox_while_finance_confirms(run_, role):
        rows = real_inbox(run_, role)
        if not landed:  # another request, with its own session, commits meanwhile
            with app.app_context():
                landed.append(perform(run.id, Actor("finance", "bot"), "confirm_payment",
                                      order.id, {}).id)
        return rows

    monkeypatch.setattr(roles.common, "inbox", inbox_while_finance_confirms)
    response = c["warehouse"].get(f"/run/{run.id}/warehouse/{part}")
    assert landed, "the confirmation did not land during the render"
    if part == "live":
        answer = response.get_json()
        page, last = answer["parts"]["inbox"] + answer["parts"]["guide"], answer["last"]
    else:
        page = response.get_data(as_text=True)
        last = int(re.search(r'data-live-last="(\d+)"', page)[1])
    assert "/act/ship_order" in page and 'data-step="ship"' in page
    assert last == landed[0]  # the next poll asks from there


def test_place_order_takes_its_lines_as_repeated_sku_and_qty_fields(classroom):
    run, c = classroom
    r = post(c["buyer"], f"/run/{run.id}/buyer/act/place_order",
             {"sku": ["TEA-250", "CUP-01", ""], "qty": ["1", "1", ""],
              "payment": "escrow", "request_key": "two-lines-form"})
    assert r.status_code == 302  # 2 items in all, as the script's step 1 checks
    order = doc(run, "order")
    assert sorted((l.product.sku, l.qty) for l in order.lines) == [("CUP-01", 1),
                                                                   ("TEA-250", 1)]
    assert (order.amount_cents, order.payment_method) == (8800 + 3500, "escrow")
    page = c["buyer"].get(r.headers["Location"]).get_data(as_text=True)
    assert order.number in page


def test_each_student_opens_their_own_console_and_only_theirs(classroom):
    run, c = classroom
    for role in ROLES:
        own = c[role].get(f"/run/{run.id}/{role}/")
        assert own.status_code == 200, role
        other = next(r for r in ROLES if r != role)
        assert c[role].get(f"/run/{run.id}/{other}/").status_code == 403, (role, other)
        assert c[role].get(f"/run/{run.id}/{role}/live").status_code == 200, role
