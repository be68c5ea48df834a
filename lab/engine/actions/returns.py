"""Returns (退货): request → approve/reject → pick up → receive (stock back) → refund."""
from flask_babel import lazy_gettext as _l

from ...errors import N_, InvalidInput, NotAllowed
from ...extensions import db
from ...models import DocumentLine, Return
from ..registry import Field, register
from .gates import can_pay


def returnable(ctx) -> dict[int, int]:
    """product id → quantity of the order not yet in a live return."""
    left = {line.product_id: line.qty for line in ctx.doc.lines}
    for ret in ctx.in_case("return", "requested", "approved", "picked_up", "received",
                           "refunded"):
        for line in ret.lines:
            left[line.product_id] = left.get(line.product_id, 0) - line.qty
    return left


def something_to_return(ctx) -> None:
    """Part of the order is not in a live return yet (a gate, so a dry run sees it too: after
    an injected return of everything, the plan passes the script's return over instead of
    offering a move the effect would refuse)."""
    if not any(q > 0 for q in returnable(ctx).values()):
        raise NotAllowed(N_("Everything in %(number)s is already being returned."),
                         number=ctx.doc.number)


@register("request_return", "buyer", "order", from_states=("delivered", "received"),
          label=_l("Request a return"),
          inputs=(Field("reason", "text", max_length=500), Field("lines", "lines", required=False)),
          requires=(something_to_return,))
def request_return(ctx):
    order, left = ctx.doc, returnable(ctx)
    by_product = {line.product_id: line for line in order.lines}
    wanted = {}
    for line in ctx.values.get("lines") or []:
        product = ctx.product(line["sku"])
        if product.id not in by_product:
            raise InvalidInput(N_("%(sku)s is not in %(number)s."), "lines", sku=line["sku"],
                               number=order.number)
        if line["qty"] > left.get(product.id, 0):
            raise InvalidInput(N_("Only %(left)s of %(sku)s can still be returned."), "lines",
                               left=left.get(product.id, 0), sku=line["sku"])
        wanted[product.id] = line["qty"]
    if not wanted:
        wanted = {pid: q for pid, q in left.items() if q > 0}
    ret = ctx.new_document(Return, state="requested", parent_id=order.id,
                           text=ctx.values["reason"])
    for product_id, qty in wanted.items():
        ret.lines.append(DocumentLine(product_id=product_id, qty=qty,
                                      price_cents=by_product[product_id].price_cents))
    db.session.flush()
    ret.amount_cents = sum(l.qty * l.price_cents for l in ret.lines)
    return {"qty": sum(wanted.values()), "amount": ret.amount_cents / 100,
            "reason": ctx.values["reason"]}


@register("approve_return", "supplier", "return", from_states=("requested",),
          to_state="approved", label=_l("Approve return"))
def approve_return(ctx):
    return {}


@register("reject_return", "supplier", "return", from_states=("requested",),
          to_state="rejected", alternative=True, label=_l("Reject return"),
          inputs=(Field("reason", "text", max_length=300),))
def reject_return(ctx):
    ctx.set_data(ctx.doc, reject_reason=ctx.values["reason"])
    return {"reason": ctx.values["reason"]}


@register("pick_up_return", "logistics", "return", from_states=("approved",),
          to_state="picked_up", label=_l("Pick up the return"))
def pick_up_return(ctx):
    return {}


@register("receive_return", "warehouse", "return", from_states=("picked_up",),
          to_state="received", label=_l("Receive the return into stock"))
def receive_return(ctx):
    for line in ctx.doc.lines:
        ctx.stock(line.product, line.qty, "return", ctx.doc)
    return {"qty": sum(l.qty for l in ctx.doc.lines)}


def refund_payable(ctx) -> None:
    """What the escrow does not hold of the refund, the company pays."""
    order, amount = ctx.doc.parent, ctx.doc.amount_cents or 0
    if order.payment != "unpaid":
        can_pay(ctx, "company", amount - min(order.escrow_held, amount))


@register("refund", "finance", "return", from_states=("received",), to_state="refunded",
          label=_l("Refund the buyer"), requires=(refund_payable,))
def refund(ctx):
    ret = ctx.doc
    order = ret.parent
    amount = ret.amount_cents
    if order.payment == "unpaid":  # cash on delivery never collected: nothing to pay back
        return {"amount": 0}
    held = order.escrow_held
    from_escrow = min(held, amount)
    if from_escrow:
        ctx.transfer("escrow", "buyer", from_escrow, "refund", ret)
        ctx.set_data(order, escrow_held=held - from_escrow)
    if amount - from_escrow:
        ctx.transfer("company", "buyer", amount - from_escrow, "refund", ret)
    refunded = order.refunded_cents + amount
    ctx.set_data(order, refunded_cents=refunded)
    if refunded >= order.amount_cents:
        ctx.move(order, payment="refunded")
    return {"amount": amount / 100}
