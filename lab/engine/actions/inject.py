"""The instructor's injections: events dropped into a running group's world mid-run (a stock
loss, a failed payment, a return request, a notice). They are registry actions like any other,
so they are audited, replayed and atomic."""
from flask_babel import lazy_gettext as _l

from ...errors import N_, NotAllowed
from ..registry import Field, register
from .returns import request_return, something_to_return


@register("inject_stock_loss", "instructor", None, label=_l("Inject: stock loss"), extra=True,
          inputs=(Field("sku", max_length=64), Field("qty", "int")))
def inject_stock_loss(ctx):
    product = ctx.product(ctx.values["sku"])
    stock = ctx.stock(product, -ctx.values["qty"], "loss")
    return {"sku": product.sku, "qty": ctx.values["qty"], "stock": stock}


def paid_not_confirmed(ctx) -> None:
    if ctx.doc.payment != "paid":
        raise NotAllowed(N_("Only a payment that arrived and is not confirmed yet can fail: "
                            "%(number)s is %(payment)s."), number=ctx.doc.number,
                         payment=ctx.doc.payment)


@register("inject_payment_failure", "instructor", "order",
          from_states=("placed", "accepted", "contracted", "signed", "shipped", "delivered"),
          label=_l("Inject: payment failed"), extra=True, requires=(paid_not_confirmed,))
def inject_payment_failure(ctx):
    """The bank reverses the payment: the money goes back and the buyer must pay again."""
    order = ctx.doc
    if order.escrow_held:
        ctx.transfer("escrow", "buyer", order.escrow_held, "reversal", order)
        ctx.set_data(order, escrow_held=0)
    else:
        ctx.transfer("company", "buyer", order.amount_cents, "reversal", order)
    ctx.move(order, payment="unpaid")
    return {"amount": order.amount_cents / 100}


@register("inject_return_request", "instructor", "order", from_states=("delivered", "received"),
          label=_l("Inject: return request"), extra=True,
          inputs=(Field("reason", "text", max_length=500),), requires=(something_to_return,))
def inject_return_request(ctx):
    return request_return(ctx)


@register("inject_notice", "instructor", None, label=_l("Inject: notice"), extra=True,
          inputs=(Field("title", max_length=200), Field("body", max_length=4000)))
def inject_notice(ctx):
    from ...models import Notice
    notice = ctx.new_document(Notice, state="posted", text=ctx.values["body"],
                              data={"title": ctx.values["title"], "injected": True})
    return {"title": ctx.values["title"], "notice": notice.number}


@register("mark_step", "instructor", None, label=_l("Mark a step"), extra=True,
          inputs=(Field("step", max_length=100),
                  Field("verdict", "choice", choices=("done", "skipped")),
                  Field("reason", "text", max_length=2000)))
def mark_step(ctx):
    """The instructor resolves a step of the script by hand (a repair for a stuck group): done
    earns its points, skipped leaves it out of the maximum. The scenario layer checks that the
    step exists and is open; grading reads the event."""
    return {"step": ctx.values["step"], "verdict": ctx.values["verdict"],
            "reason": ctx.values["reason"]}
