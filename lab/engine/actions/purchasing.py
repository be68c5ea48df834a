"""Out of stock (缺货): shortage → purchase order → finance → logistics → warehouse."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ...errors import N_, InvalidInput, NotAllowed
from ...extensions import db
from ...models import InboundDelivery, Party, Product, PurchaseOrder, Shortage
from ..core import already_done
from ..registry import Field, register
from .gates import can_pay, can_promise
from .sales import ACTIVE, missing_stock


def something_missing(ctx) -> None:
    order = ctx.doc
    if missing_stock(ctx, order):
        return
    if ctx.in_case("shortage"):
        raise already_done(ctx.run.id, "forward_shortage", order) or NotAllowed(
            N_("The shortage of %(number)s is already with purchasing."), number=order.number)
    raise NotAllowed(N_("There is enough stock for %(number)s: nothing to forward."),
                     number=order.number)


@register("forward_shortage", "supplier", "order", from_states=ACTIVE,
          label=_l("Forward shortage to purchasing"),
          inputs=(Field("qty", "int", required=False),), requires=(something_missing,))
def forward_shortage(ctx):
    order = ctx.doc
    missing = missing_stock(ctx, order)
    qty = ctx.values.get("qty")
    if qty is not None and len(missing) == 1:
        (lack,) = missing.values()
        if qty < lack:
            raise InvalidInput(N_("%(lack)s are missing: forward at least %(lack)s."), "qty",
                               lack=lack)
        missing = {next(iter(missing)): qty}
    numbers = []
    for product_id, lack in missing.items():
        shortage = ctx.new_document(Shortage, state="open", parent_id=order.id,
                                    product_id=product_id, qty=lack)
        numbers.append(shortage.number)
    return {"qty": sum(missing.values()), "shortages": numbers}


def company_can_pay(ctx) -> None:
    """The company has what the purchase order will cost, on top of the purchase orders already
    waiting for approval (finance pays the vendor when it approves)."""
    qty = ctx.values.get("qty") or ctx.doc.qty or 0
    product = db.session.get(Product, ctx.doc.product_id)
    can_promise(ctx, "company", qty * product.cost_cents, "qty")


@register("create_purchase_order", "purchasing", "shortage", from_states=("open",),
          to_state="ordered", label=_l("Raise purchase order"),
          inputs=(Field("vendor", "vendor", required=False), Field("qty", "int", required=False)),
          requires=(company_can_pay,))
def create_purchase_order(ctx):
    shortage = ctx.doc
    product = db.session.get(Product, shortage.product_id)
    vendor = ctx.values.get("vendor") or product.vendor_key
    if not vendor:
        raise InvalidInput(N_("Choose the vendor to buy %(sku)s from."), "vendor",
                           sku=product.sku)
    vendor_key = vendor if vendor.startswith("vendor:") else f"vendor:{vendor}"
    if db.session.scalar(select(Party.id).where(Party.run_id == ctx.run.id,
                                                Party.key == vendor_key)) is None:
        raise InvalidInput(N_("There is no vendor %(vendor)s in this run."), "vendor",
                           vendor=vendor)
    qty = ctx.values.get("qty") or shortage.qty
    if qty < shortage.qty:
        raise InvalidInput(N_("The shortage is %(lack)s: order at least %(lack)s."), "qty",
                           lack=shortage.qty)
    po = ctx.new_document(PurchaseOrder, state="submitted", parent_id=shortage.id,
                          product_id=product.id, qty=qty, party_key=vendor_key,
                          amount_cents=qty * product.cost_cents)
    return {"qty": qty, "vendor": vendor_key.removeprefix("vendor:"),
            "amount": po.amount_cents / 100, "purchase_order": po.number}


def vendor_payable(ctx) -> None:
    can_pay(ctx, "company", ctx.doc.amount_cents or 0)


@register("approve_purchase_order", "finance", "purchase_order", from_states=("submitted",),
          to_state="approved", label=_l("Approve and pay the vendor"),
          requires=(vendor_payable,))
def approve_purchase_order(ctx):
    po = ctx.doc
    if po.amount_cents:
        ctx.transfer("company", po.party_key, po.amount_cents, "vendor", po)
    return {"amount": po.amount_cents / 100, "qty": po.qty}


@register("reject_purchase_order", "finance", "purchase_order", from_states=("submitted",),
          to_state="rejected", alternative=True, label=_l("Reject"),
          inputs=(Field("reason", "text", max_length=300),))
def reject_purchase_order(ctx):
    po = ctx.doc
    ctx.move(po, text=ctx.values["reason"])
    ctx.move(po.parent, "open")  # the shortage waits for a new purchase order
    return {"reason": ctx.values["reason"]}


@register("deliver_inbound", "logistics", "purchase_order", from_states=("approved",),
          to_state="delivered", label=_l("Carry goods to the warehouse"))
def deliver_inbound(ctx):
    po = ctx.doc
    inbound = ctx.new_document(InboundDelivery, state="arrived", parent_id=po.id,
                               product_id=po.product_id, qty=po.qty)
    return {"qty": po.qty, "inbound": inbound.number}


@register("receive_inbound", "warehouse", "inbound", from_states=("arrived",),
          to_state="received", also=("purchase_order", ("delivered",), "received"),
          label=_l("Receive into stock"), inputs=(Field("qty", "int", required=False),))
def receive_inbound(ctx):
    inbound = ctx.doc
    qty = ctx.values.get("qty") or inbound.qty
    if qty != inbound.qty:
        raise InvalidInput(N_("The purchase order says %(expected)s, you counted %(qty)s: count "
                              "again."), "qty", expected=inbound.qty, qty=qty)
    stock = ctx.stock(inbound.product, qty, "inbound", inbound)
    po = inbound.parent  # received: also= moved it
    if po.parent is not None and po.parent.state == "ordered":
        ctx.move(po.parent, "filled")
    return {"qty": qty, "stock": stock}
