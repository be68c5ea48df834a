"""The B2B marketplace: inquiry and quote, contract signed with a CA certificate, payment
reminder, invoice; member approval and the CA itself."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ...errors import N_, NotAllowed
from ...extensions import db
from ...i18n import text
from ...models import Certificate, Contract, DocumentLine, Inquiry, Invoice, PaymentReminder, Quote
from .. import ca
from ..planner import need
from ..registry import Field, register
from .gates import can_promise, member_approved, not_done_before
from .sales import PAYMENT_METHODS, create_order

TAX_RATE_PERCENT = 13  # VAT on goods; prices include it
# Bots: a bot playing the buyer, or doing a step for a self-learner who asked "show me". A bot
# knows the certificate password it chose; for a certificate whose password a student chose,
# the CA keeps an escrowed copy of the key, and a bot signs with that.
LAB_PLAYS = ("bot", "guide")


@register("send_inquiry", "buyer", None, modes=("b2b",), starts_case=True,
          label=_l("Send inquiry"), inputs=(Field("sku"), Field("qty", "int")),
          requires=(member_approved,))
def send_inquiry(ctx):
    product = ctx.product(ctx.values["sku"])
    inquiry = ctx.new_document(Inquiry, state="sent", product_id=product.id,
                               qty=ctx.values["qty"])
    return {"qty": inquiry.qty, "sku": product.sku}


@register("send_quote", "supplier", "inquiry", modes=("b2b",), from_states=("sent",),
          to_state="quoted", label=_l("Send quote"), inputs=(Field("price", "money"),))
def send_quote(ctx):
    inquiry, price = ctx.doc, ctx.values["price"]
    quote = ctx.new_document(Quote, state="offered", parent_id=inquiry.id,
                             product_id=inquiry.product_id, qty=inquiry.qty,
                             amount_cents=price * inquiry.qty, data={"price_cents": price})
    return {"price": price / 100, "amount": quote.amount_cents / 100}


def quote_affordable(ctx) -> None:
    can_promise(ctx, "buyer", ctx.doc.amount_cents or 0)


@register("accept_quote", "buyer", "quote", modes=("b2b",), from_states=("offered",),
          to_state="accepted", label=_l("Accept quote and order"),
          inputs=(Field("payment", "choice", choices=PAYMENT_METHODS, required=False),
                  Field("delivery_date", "date", required=False)),
          requires=(quote_affordable,))
def accept_quote(ctx):
    quote = ctx.doc
    order = create_order(ctx, [{"sku": quote.product.sku, "qty": quote.qty}],
                         ctx.values.get("payment") or "bank_transfer",
                         ctx.values.get("delivery_date"),
                         price_of=lambda product: quote.data["price_cents"],
                         case_id=quote.case_id)
    order.parent_id = quote.id
    return {"order": order.number, "amount": order.amount_cents / 100, "qty": quote.qty}


def canonical_text(contract: Contract, order, run) -> str:
    """The contract's text as signed: any change to its terms changes this text."""
    lines = ";".join(f"{l.product.sku}x{l.qty}@{l.price_cents}" for l in contract.lines)
    return "|".join([
        "ecomlab-contract-v1", contract.number, order.number,
        f"seller={contract.data.get('seller', '')}", f"buyer={contract.data.get('buyer', '')}",
        f"lines={lines}", f"total={contract.amount_cents}",
        f"payment={order.payment_method}", f"delivery={order.data.get('delivery_date') or ''}"])


@register("issue_contract", "supplier", "order", modes=("b2b",),
          from_states=("placed", "accepted"), to_state="contracted",
          label=_l("Issue contract (EDI)"))
def issue_contract(ctx):
    order = ctx.doc
    contract = ctx.new_document(Contract, state="issued", parent_id=order.id,
                                amount_cents=order.amount_cents,
                                data={"seller": text(ctx.party("company").name, "zh"),
                                      "buyer": text(ctx.party("buyer").name, "zh"),
                                      "payment_method": order.payment_method,
                                      "delivery_date": order.data.get("delivery_date")})
    for line in order.lines:
        contract.lines.append(DocumentLine(product_id=line.product_id, qty=line.qty,
                                           price_cents=line.price_cents))
    db.session.flush()
    return {"contract": contract.number, "amount": contract.amount_cents / 100}


def buyer_certificate(run_id) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(
        Certificate.run_id == run_id, Certificate.party_key == "buyer",
        Certificate.state.in_(("requested", "issued"))).order_by(Certificate.id.desc()).limit(1))


def has_certificate(ctx) -> None:
    cert = buyer_certificate(ctx.run.id)
    if cert is None:
        raise NotAllowed(N_("You have no CA certificate to sign with yet: first %(first_role)s "
                            "must “%(first)s” (set its password)."),
                         need=_need("request_certificate", None), first="request_certificate",
                         first_role="buyer")
    if cert.state != "issued":
        raise need(ctx.run.id, cert, "issue_certificate",
                   N_("Your certificate %(number)s is not issued yet: first %(first_role)s must "
                      "“%(first)s”."), number=cert.number)


def _need(action, doc_id):
    from ..planner import Need
    return Need(action, doc_id)


@register("sign_contract", "buyer", "contract", modes=("b2b",), from_states=("issued",),
          to_state="signed", also=("order", ("contracted",), "signed"),
          label=_l("Sign contract"), inputs=(Field("password", "password"),),
          requires=(has_certificate,))
def sign_contract(ctx):
    contract = ctx.doc
    order = contract.parent
    cert = buyer_certificate(ctx.run.id)
    message = canonical_text(contract, order, ctx.run)
    if ctx.actor.kind in LAB_PLAYS and cert.data.get("escrowed_key"):
        # A bot plays the buyer whose certificate a student requested: it signs with the CA's
        # escrowed copy of the key (the student's password is never stored).
        signature = ca.sign_escrowed(ctx.run.id, cert.data["escrowed_key"], message)
    else:
        signature = ca.sign(cert.data["private_key"], ctx.values["password"], message)
    ctx.set_data(contract, signature=signature, certificate=cert.number,
                 fingerprint=cert.data["fingerprint"])
    return {"contract": contract.number}


def unpaid(ctx) -> None:
    if ctx.doc.payment != "unpaid":
        raise NotAllowed(N_("%(number)s is already paid: no reminder needed."),
                         number=ctx.doc.number)


@register("remind_payment", "warehouse", "order", modes=("b2b",),
          from_states=("contracted", "signed"), label=_l("Send payment reminder"),
          requires=(unpaid, not_done_before("remind_payment", "reminded")))
def remind_payment(ctx):
    order = ctx.doc
    reminder = ctx.new_document(PaymentReminder, state="sent", parent_id=order.id,
                                amount_cents=order.amount_cents)
    ctx.set_data(order, reminded=True)
    return {"amount": order.amount_cents / 100, "reminder": reminder.number}


@register("issue_invoice", "supplier", "order", modes=("b2b",),
          from_states=("signed", "shipped", "delivered", "received"),
          label=_l("Issue invoice (EDI)"),
          requires=(not_done_before("issue_invoice", "invoiced"),))
def issue_invoice(ctx):
    order = ctx.doc
    total = order.amount_cents
    tax = round(total * TAX_RATE_PERCENT / (100 + TAX_RATE_PERCENT))
    invoice = ctx.new_document(Invoice, state="issued", parent_id=order.id, amount_cents=total,
                               data={"tax_cents": tax, "net_cents": total - tax,
                                     "tax_rate": TAX_RATE_PERCENT,
                                     "seller": text(ctx.party("company").name, "zh"),
                                     "buyer": text(ctx.party("buyer").name, "zh")})
    for line in order.lines:
        invoice.lines.append(DocumentLine(product_id=line.product_id, qty=line.qty,
                                          price_cents=line.price_cents))
    ctx.set_data(order, invoiced=True)
    db.session.flush()
    return {"invoice": invoice.number, "amount": total / 100, "tax": tax / 100}


@register("approve_member", "mall_admin", "membership", modes=("b2b",), from_states=("applied",),
          to_state="approved", label=_l("Approve member"), extra=True)
def approve_member(ctx):
    return {}


def no_certificate_yet(ctx) -> None:
    cert = buyer_certificate(ctx.run.id)
    if cert is not None:
        raise NotAllowed(N_("You already have certificate %(number)s."), number=cert.number)


@register("request_certificate", "buyer", None, modes=("b2b",), extra=True,
          label=_l("Apply for a CA certificate"),
          inputs=(Field("password", "password", min_length=6),),
          requires=(no_certificate_yet,))
def request_certificate(ctx):
    password = ctx.values["password"]
    data = {}
    if ctx.actor.kind in LAB_PLAYS:  # a bot knows the password it chose
        public, private = ca.new_key_pair(password)
    else:  # a student's own password: the CA keeps an escrowed copy for the bots
        public, private, data["escrowed_key"] = ca.new_escrowed_key_pair(password, ctx.run.id)
    cert = ctx.new_document(Certificate, state="requested", party_key="buyer",
                            data={"public_key": public, "private_key": private,
                                  "fingerprint": ca.fingerprint(public), **data})
    return {"certificate": cert.number}


@register("issue_certificate", "mall_admin", "certificate", modes=("b2b",),
          from_states=("requested",), to_state="issued", extra=True,
          label=_l("Issue certificate"))
def issue_certificate(ctx):
    cert = ctx.doc
    ctx.set_data(cert, ca_signature=ca.certify(ctx.run.id, cert.data["public_key"]))
    return {"certificate": cert.number}


def verify_contract(contract: Contract, run) -> bool:
    """True when the contract carries a signature that verifies against its current text and a
    certificate the CA issued."""
    sig = contract.data.get("signature")
    if not sig:
        return False
    cert = db.session.scalar(select(Certificate).where(
        Certificate.run_id == run.id, Certificate.number == contract.data.get("certificate")))
    if cert is None or not cert.data.get("ca_signature"):
        return False
    if not ca.certificate_valid(run.id, cert.data["public_key"], cert.data["ca_signature"]):
        return False
    return ca.verify(cert.data["public_key"], canonical_text(contract, contract.parent, run), sig)
