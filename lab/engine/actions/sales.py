"""The B2C (and B2B) order: place, accept, pay, confirm payment, ship, deliver, confirm receipt,
review."""

from ...errors import N_, NotAllowed
from ...extensions import db
from ...models import Order, Shipment, Review
from ..core import already_done
from ..planner import need
from ..registry import Field, register
from .gates import (can_pay, can_promise, contract_signed, latest, member_approved,
                    not_done_before)
from flask_babel import lazy_gettext as _l

PAYMENT_METHODS = ("bank_transfer", "escrow", "cash_on_delivery")
ACTIVE = ("placed", "accepted", "contracted", "signed")


def create_order(ctx, lines, payment, delivery_date=None, price_of=None, case_id=None) -> Order:
    """A new order from [{sku, qty}] lines at the products' prices (or price_of(product))."""
    start = "placed" if ctx.run.workflow_on("accept_order") else "accepted"
    order = ctx.new_document(Order, state=start, payment="unpaid", case_id=case_id,
                             data={"payment_method": payment, "delivery_date": delivery_date})
    from ...models import DocumentLine
    for line in lines:
        product = ctx.product(line["sku"])
        price = price_of(product) if price_of else product.price_cents
        order.lines.append(DocumentLine(product_id=product.id, qty=line["qty"], price_cents=price))
    db.session.flush()
    order.amount_cents = sum(line.qty * line.price_cents for line in order.lines)
    return order


def products_in_the_mall(ctx) -> None:
    """Every product of the order is published in this run (a dry run sees it too)."""
    for line in ctx.values.get("lines") or []:
        ctx.product(line["sku"])


def buyer_can_pay(ctx) -> None:
    """The buyer has the order's amount, on top of what unpaid orders already owe (whatever
    the payment method: cash on delivery too is collected from the buyer's account)."""
    lines = ctx.values.get("lines") or []
    can_promise(ctx, "buyer", sum(ctx.product(l["sku"]).price_cents * l["qty"] for l in lines),
                "lines")


@register("place_order", "buyer", None, starts_case=True, label=_l("Place order"),
          inputs=(Field("lines", "lines"), Field("payment", "choice", choices=PAYMENT_METHODS),
                  Field("delivery_date", "date", required=False)),
          requires=(member_approved, products_in_the_mall, buyer_can_pay))
def place_order(ctx):
    v = ctx.values
    order = create_order(ctx, v["lines"], v["payment"], v.get("delivery_date"))
    result = {"qty": sum(l["qty"] for l in v["lines"]), "amount": order.amount_cents / 100,
              "payment": v["payment"]}
    if len(v["lines"]) == 1:
        result["sku"] = v["lines"][0]["sku"]
    return result


@register("accept_order", "supplier", "order", from_states=("placed",), to_state="accepted",
          label=_l("Accept order"))
def accept_order(ctx):
    return {}


def ready_to_pay(ctx) -> None:
    order = ctx.doc
    if order.payment_method == "cash_on_delivery":
        raise NotAllowed(N_("%(number)s is cash on delivery: the buyer pays the courier when the "
                            "goods arrive."), number=order.number)
    if order.payment != "unpaid":
        raise already_done(ctx.run.id, "pay_order", order) or NotAllowed(
            N_("%(number)s is already paid."), number=order.number)
    if ctx.run.mode == "b2c" and order.state == "placed":
        raise need(ctx.run.id, order, "accept_order",
                   N_("Not yet: %(number)s must be accepted before it is paid. First "
                      "%(first_role)s must “%(first)s”."), number=order.number)
    contract_signed(ctx)
    can_pay(ctx, "buyer", order.amount_cents)


@register("pay_order", "buyer", "order", from_states=ACTIVE, label=_l("Pay"),
          requires=(ready_to_pay,))
def pay_order(ctx):
    order = ctx.doc
    if order.payment_method == "escrow":
        ctx.transfer("buyer", "escrow", order.amount_cents, "escrow", order)
        ctx.set_data(order, escrow_held=order.amount_cents)
    else:
        ctx.transfer("buyer", "company", order.amount_cents, "payment", order)
    confirmed = not ctx.run.workflow_on("finance_review")
    ctx.move(order, payment="confirmed" if confirmed else "paid")
    return {"amount": order.amount_cents / 100, "payment": order.payment_method}


def payment_to_confirm(ctx) -> None:
    order = ctx.doc
    if order.payment == "unpaid":
        if order.payment_method == "cash_on_delivery":
            step = "deliver_order" if order.state == "shipped" else "ship_order"
            raise need(ctx.run.id, order, step,
                       N_("%(number)s is cash on delivery: the money comes in when logistics "
                          "delivers it. First %(first_role)s must “%(first)s”."),
                       number=order.number)
        raise need(ctx.run.id, order, "pay_order",
                   N_("No payment has come in for %(number)s yet: first %(first_role)s must "
                      "“%(first)s”."), number=order.number)
    if order.payment in ("confirmed", "refunded"):
        raise already_done(ctx.run.id, "confirm_payment", order) or NotAllowed(
            N_("The payment for %(number)s is already confirmed."), number=order.number)


@register("confirm_payment", "finance", "order",
          from_states=ACTIVE + ("shipped", "delivered", "received"), label=_l("Confirm payment"),
          requires=(payment_to_confirm,))
def confirm_payment(ctx):
    ctx.move(ctx.doc, payment="confirmed")
    return {"amount": ctx.doc.amount_cents / 100}


def payment_settled(ctx) -> None:
    order = ctx.doc
    if order.payment_method == "cash_on_delivery":
        return
    if order.payment == "unpaid":
        raise need(ctx.run.id, order, "pay_order",
                   N_("Not paid yet: %(number)s ships after payment. First %(first_role)s must "
                      "“%(first)s”."), number=order.number)
    if ctx.run.workflow_on("finance_review") and order.payment != "confirmed":
        raise need(ctx.run.id, order, "confirm_payment",
                   N_("The payment for %(number)s is not confirmed yet: first %(first_role)s "
                      "must “%(first)s”."), number=order.number)


def missing_stock(ctx, order) -> dict[int, int]:
    """product id → quantity the order lacks, net of shortages already forwarded and open."""
    pending: dict[int, int] = {}
    for shortage in ctx.in_case("shortage", "open", "ordered"):
        pending[shortage.product_id] = pending.get(shortage.product_id, 0) + shortage.qty
    missing = {}
    for line in order.lines:
        lack = line.qty - line.product.stock - pending.get(line.product_id, 0)
        if lack > 0:
            missing[line.product_id] = lack
    return missing


def stock_available(ctx) -> None:
    order = ctx.doc
    short = [line for line in order.lines if line.product.stock < line.qty]
    if not short:
        return
    line = short[0]
    if missing_stock(ctx, order):
        raise need(ctx.run.id, order, "forward_shortage",
                   N_("Only %(stock)s in stock, %(qty)s ordered: first %(first_role)s must "
                      "“%(first)s” to purchasing."), stock=line.product.stock, qty=line.qty)
    step, doc = restock_next(ctx)
    raise need(ctx.run.id, doc, step,
               N_("The goods for %(number)s are not in the warehouse yet: next %(first_role)s "
                  "must “%(first)s”."), number=order.number)


def restock_next(ctx):
    """The next step of a shortage on its way to the warehouse: (action, document)."""
    for kind, state, action in (("inbound", "arrived", "receive_inbound"),
                                ("purchase_order", "approved", "deliver_inbound"),
                                ("purchase_order", "submitted", "approve_purchase_order"),
                                ("shortage", "open", "create_purchase_order")):
        doc = latest(ctx, kind, state)
        if doc is not None:
            return action, doc
    return "forward_shortage", ctx.doc


@register("ship_order", "warehouse", "order",
          from_states={"b2c": ("accepted",), "b2b": ("accepted", "contracted", "signed")},
          plan_from={"b2c": ("accepted",), "b2b": ("signed",)},
          to_state="shipped", label=_l("Ship"),
          requires=(contract_signed, payment_settled, stock_available))
def ship_order(ctx):
    order = ctx.doc
    for line in order.lines:
        ctx.stock(line.product, -line.qty, "ship", order)
    shipment = ctx.new_document(Shipment, state="in_transit", parent_id=order.id,
                                qty=sum(l.qty for l in order.lines),
                                amount_cents=order.amount_cents)
    return {"qty": shipment.qty, "shipment": shipment.number}


def cash_collectable(ctx) -> None:
    order = ctx.doc.parent
    if order.payment_method == "cash_on_delivery" and order.payment == "unpaid":
        can_pay(ctx, "buyer", order.amount_cents)


@register("deliver_order", "logistics", "shipment", from_states=("in_transit",),
          to_state="delivered", also=("order", ("shipped",), "delivered"),
          label=_l("Deliver to the buyer"), requires=(cash_collectable,))
def deliver_order(ctx):
    order = ctx.doc.parent  # delivered: also= moved it
    if order.payment_method == "cash_on_delivery" and order.payment == "unpaid":
        ctx.transfer("buyer", "company", order.amount_cents, "cod", order)
        ctx.move(order, payment="confirmed" if not ctx.run.workflow_on("finance_review")
                 else "paid")
    return {"order": order.number}


def invoice_issued(ctx) -> None:
    if ctx.run.mode == "b2b" and latest(ctx, "invoice") is None:
        raise need(ctx.run.id, ctx.doc, "issue_invoice",
                   N_("There is no invoice for %(number)s to check yet: first %(first_role)s "
                      "must “%(first)s”."), number=ctx.doc.number)


@register("confirm_receipt", "buyer", "order", from_states=("delivered",), to_state="received",
          label=_l("Confirm receipt"), requires=(invoice_issued,))
def confirm_receipt(ctx):
    order = ctx.doc
    if order.escrow_held:
        ctx.transfer("escrow", "company", order.escrow_held, "escrow_release", order)
        ctx.set_data(order, escrow_held=0)
    for invoice in ctx.in_case("invoice", "issued"):
        ctx.move(invoice, "checked")
    return {}


@register("review_order", "buyer", "order", from_states=("received",), label=_l("Review"),
          inputs=(Field("rating", "int", minimum=1, maximum=5),
                  Field("text", "text", required=False, max_length=1000)),
          requires=(not_done_before("review_order", "reviewed"),))
def review_order(ctx):
    order = ctx.doc
    review = ctx.new_document(Review, state="posted", parent_id=order.id,
                              product_id=order.lines[0].product_id, text=ctx.values.get("text"),
                              data={"rating": ctx.values["rating"]})
    ctx.set_data(order, reviewed=True)
    return {"rating": ctx.values["rating"], "review": review.number}
