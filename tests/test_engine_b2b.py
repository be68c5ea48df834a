"""The engine without HTTP, the B2B marketplace (lab/engine/actions/b2b.py): member approval,
CA certificates, inquiry and quote, contract issued and signed, payment reminder, invoice; each
one's effect, guard and refusal. World: b2b-normal (TEA-5KG at 1,500.00, 50 in stock; the buyer
company applied for membership) and b2b-rfq."""
import pytest

from lab.engine.actions.b2b import verify_contract
from lab.errors import AlreadyDone, Forbidden, InvalidInput, NotAllowed
from lab.extensions import db
from lab.models import Document
from tests.helpers import act, balance, doc, play, start_run, stock

pytestmark = pytest.mark.usefixtures("english")
PASSWORD = "harbour-2026"


def count(kind) -> int:
    return db.session.query(Document).filter_by(kind=kind).count()


def order_10(run):
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-5KG", "qty": 10}],
        payment="bank_transfer", delivery_date="2026-12-15")
    return doc(run, "order")


def test_a_company_that_is_not_a_member_yet_cannot_order(app):
    run = start_run("b2b-normal")
    with pytest.raises(NotAllowed) as refused:
        order_10(run)
    assert refused.value.need.action == "approve_member"
    assert refused.value.message.startswith("Your company is not an approved member")
    assert count("order") == 0
    act(run, "mall_admin", "approve_member", doc(run, "membership"))
    assert doc(run, "membership").state == "approved"
    assert order_10(run).state == "accepted"  # this marketplace skips acceptance


def test_certificate_request_needs_a_password_of_six_characters(app):
    run = start_run("b2b-normal")
    with pytest.raises(InvalidInput) as refused:
        act(run, "buyer", "request_certificate", password="12345")
    assert refused.value.field == "password"
    assert count("certificate") == 0
    act(run, "buyer", "request_certificate", password=PASSWORD)
    cert = doc(run, "certificate")
    assert (cert.number, cert.state, cert.party_key) == ("ZS-0001", "requested", "buyer")
    assert PASSWORD not in str(cert.data)  # the private key is kept encrypted
    with pytest.raises(NotAllowed) as refused:
        act(run, "buyer", "request_certificate", password=PASSWORD)
    assert refused.value.message == "You already have certificate ZS-0001."
    act(run, "mall_admin", "issue_certificate", cert)
    assert doc(run, "certificate").state == "issued" and doc(run, "certificate").data[
        "ca_signature"]
    with pytest.raises(AlreadyDone):
        act(run, "mall_admin", "issue_certificate", cert)


def test_issue_contract_copies_the_orders_terms(app):
    run = play(start_run("b2b-normal"), until="contract")
    order = doc(run, "order")
    act(run, "supplier", "issue_contract", order)
    contract = doc(run, "contract")
    assert (contract.number, contract.state, contract.amount_cents) == ("HT-0001", "issued",
                                                                        1500000)
    assert [(l.product.sku, l.qty, l.price_cents) for l in contract.lines] == [
        ("TEA-5KG", 10, 150000)]
    assert contract.data["delivery_date"] == "2026-12-15"
    assert doc(run, "order").state == "contracted"
    with pytest.raises(AlreadyDone):
        act(run, "supplier", "issue_contract", order)


def test_paying_or_shipping_before_the_contract_names_it(app):
    run = play(start_run("b2b-normal"), until="contract")
    order = doc(run, "order")
    for role, action in (("buyer", "pay_order"), ("warehouse", "ship_order")):
        with pytest.raises(NotAllowed) as refused:
            act(run, role, action, order)
        assert refused.value.need.action == "issue_contract", action
        assert "“Issue contract (EDI)”" in refused.value.message
    assert balance(run, "buyer") == "200000.00" and stock(run, "TEA-5KG") == 50


def test_signing_needs_an_issued_certificate_and_its_password(app):
    run = play(start_run("b2b-normal"), until="cert-request")
    order_10(run)
    act(run, "supplier", "issue_contract", doc(run, "order"))
    contract = doc(run, "contract")
    with pytest.raises(NotAllowed) as refused:
        act(run, "buyer", "sign_contract", contract, password=PASSWORD)
    assert refused.value.need.action == "request_certificate"
    act(run, "buyer", "request_certificate", password=PASSWORD)
    with pytest.raises(NotAllowed) as refused:
        act(run, "buyer", "sign_contract", contract, password=PASSWORD)
    assert refused.value.need.action == "issue_certificate"
    assert refused.value.need.role == "mall_admin"
    act(run, "mall_admin", "issue_certificate", doc(run, "certificate"))
    with pytest.raises(InvalidInput) as refused:
        act(run, "buyer", "sign_contract", contract, password="wrong-password")
    assert refused.value.message == "Wrong certificate password: nothing was signed."
    assert doc(run, "contract").state == "issued"
    act(run, "buyer", "sign_contract", contract, password=PASSWORD)
    assert (doc(run, "contract").state, doc(run, "order").state) == ("signed", "signed")


def test_a_signed_contract_verifies_until_its_terms_change(app):
    run = play(start_run("b2b-normal"), until="remind")
    contract = doc(run, "contract")
    assert contract.state == "signed" and verify_contract(contract, run)
    contract.amount_cents = 1000  # tampered after signing
    assert not verify_contract(contract, run)
    db.session.rollback()


def test_payment_reminder_once_and_only_while_unpaid(app):
    run = play(start_run("b2b-normal"), until="remind")
    order = doc(run, "order")
    act(run, "warehouse", "remind_payment", order)
    reminder = doc(run, "payment_reminder")
    assert (reminder.number, reminder.state, reminder.amount_cents) == ("CK-0001", "sent",
                                                                        1500000)
    with pytest.raises(AlreadyDone):
        act(run, "warehouse", "remind_payment", order)
    act(run, "buyer", "pay_order", order)
    assert (balance(run, "buyer"), balance(run, "company")) == ("185000.00", "115000.00")
    assert doc(run, "order").payment == "confirmed"  # this marketplace skips finance review


def test_a_reminder_for_a_paid_order_is_refused(app):
    run = play(start_run("b2b-normal"), until="remind")
    order = doc(run, "order")
    act(run, "buyer", "pay_order", order)
    with pytest.raises(NotAllowed) as refused:
        act(run, "warehouse", "remind_payment", order)
    assert refused.value.message == "SO-0001 is already paid: no reminder needed."
    assert count("payment_reminder") == 0


def test_invoice_carries_the_vat_once(app):
    run = play(start_run("b2b-normal"), until="invoice")
    act(run, "supplier", "issue_invoice", doc(run, "order"))
    invoice = doc(run, "invoice")
    assert (invoice.number, invoice.state, invoice.amount_cents) == ("FP-0001", "issued",
                                                                     1500000)
    assert (invoice.data["tax_cents"], invoice.data["net_cents"]) == (172566, 1327434)
    with pytest.raises(AlreadyDone):
        act(run, "supplier", "issue_invoice", doc(run, "order"))
    assert count("invoice") == 1


def test_an_invoice_before_the_contract_is_signed_names_the_signature(app):
    run = play(start_run("b2b-normal"), until="sign")
    with pytest.raises(NotAllowed) as refused:
        act(run, "supplier", "issue_invoice", doc(run, "order"))
    assert refused.value.need.action == "sign_contract"


def test_receipt_without_an_invoice_names_the_invoice(app):
    run = play(start_run("b2b-normal"), until="invoice")
    order = doc(run, "order")
    act(run, "warehouse", "ship_order", order)
    act(run, "logistics", "deliver_order", doc(run, "shipment"))
    with pytest.raises(NotAllowed) as refused:
        act(run, "buyer", "confirm_receipt", order)
    assert refused.value.need.action == "issue_invoice"
    act(run, "supplier", "issue_invoice", order)
    act(run, "buyer", "confirm_receipt", order)
    assert (doc(run, "order").state, doc(run, "invoice").state) == ("received", "checked")
    assert stock(run, "TEA-5KG") == 40


def test_inquiry_quote_and_order_at_the_quoted_price(app):
    run = start_run("b2b-rfq")
    with pytest.raises(InvalidInput):
        act(run, "buyer", "send_inquiry", sku="TEA-5KG", qty=0)
    act(run, "buyer", "send_inquiry", sku="TEA-5KG", qty=20)
    inquiry = doc(run, "inquiry")
    assert (inquiry.number, inquiry.state, inquiry.qty) == ("XJ-0001", "sent", 20)
    with pytest.raises(InvalidInput) as refused:
        act(run, "supplier", "send_quote", inquiry, price="cheap")
    assert refused.value.field == "price"
    act(run, "supplier", "send_quote", inquiry, price="1380.00")
    quote = doc(run, "quote")
    assert (quote.state, quote.amount_cents, doc(run, "inquiry").state) == (
        "offered", 20 * 138000, "quoted")
    with pytest.raises(AlreadyDone):
        act(run, "supplier", "send_quote", inquiry, price="1300.00")
    act(run, "buyer", "accept_quote", quote, payment="bank_transfer",
        delivery_date="2026-12-18")
    order = doc(run, "order")
    assert (order.amount_cents, order.case_id, order.parent_id) == (2760000, inquiry.id,
                                                                    quote.id)
    assert [l.price_cents for l in order.lines] == [138000]
    assert doc(run, "quote").state == "accepted"
    with pytest.raises(AlreadyDone):
        act(run, "buyer", "accept_quote", quote)
    assert count("order") == 1


def test_only_the_buyer_accepts_a_quote(app):
    run = play(start_run("b2b-rfq"), until="accept")
    with pytest.raises(Forbidden) as refused:
        act(run, "supplier", "accept_quote", doc(run, "quote"))
    assert refused.value.message == "Only Buyer may “Accept quote and order”."
    assert count("order") == 0


def test_b2b_actions_are_not_part_of_a_b2c_run(app):
    run = start_run("b2c-normal")
    with pytest.raises(NotAllowed) as refused:
        act(run, "buyer", "send_inquiry", sku="TEA-250", qty=3)
    assert refused.value.message == "“Send inquiry” is not part of a B2C run."
    assert count("inquiry") == 0


def test_the_whole_b2b_flow_moves_goods_and_money(app):
    run = play(start_run("b2b-normal"))
    assert doc(run, "order").state == "received" and stock(run, "TEA-5KG") == 40
    assert (balance(run, "buyer"), balance(run, "company")) == ("185000.00", "115000.00")
