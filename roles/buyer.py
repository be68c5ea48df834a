"""The buyer's console (商城用户 in B2C, 购货方 in B2B): shop, cart, checkout, my orders, bank
account, inquiries, contracts, invoices, CA certificate, notices."""
from flask import flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from lab.engine import Actor, perform, registry
from lab.errors import N_, DomainError, InvalidInput, NotFound
from lab import once
from lab.extensions import db
from lab.models import Product

from . import queries
from .common import Console, done_message, not_running, refused, request_key

console = Console("buyer")
bp = console.bp
QTY = registry.Field("qty", "int")


def _cart() -> dict[str, int]:
    return dict(session.get("cart", {}).get(str(g.run.id), {}))


def _save_cart(cart: dict[str, int]) -> None:
    carts = dict(session.get("cart", {}))
    carts[str(g.run.id)] = cart
    session["cart"] = carts


@console.panels
def panels(run):
    products = queries.products(run)
    by_sku = {p.sku: p for p in products}
    cart = [{"product": by_sku[sku], "qty": qty, "amount": by_sku[sku].price_cents * qty}
            for sku, qty in _cart().items() if sku in by_sku]
    me = queries.party(run, "buyer")
    reviews = {}
    for review in queries.documents(run, "review"):
        reviews.setdefault(review.product_id, []).append(review)
    return {
        "products": products, "cart": cart, "cart_total": sum(c["amount"] for c in cart),
        "orders": queries.documents(run, "order"), "me": me,
        "transfers": queries.transfers(run, me.id)[-15:] if me else [],
        "notices": queries.documents(run, "notice", limit=5),
        "b2b_docs": queries.documents(run, "inquiry", "quote", "contract", "payment_reminder",
                                      "invoice", "return"),
        "certificates": queries.documents(run, "certificate"),
        "starting": queries.starting_actions(run, "buyer"),
        "payment_field": registry.get("place_order").input("payment"),
        "reviews": reviews,
    }


@bp.route("/cart", methods=["POST"])
def cart():
    """Add to, change or empty the cart (kept in the session, per run)."""
    if g.readonly:
        return redirect(url_for("buyer.index"))
    cart = _cart()
    sku = request.form.get("sku", "").strip()
    op = request.form.get("op")
    # Back to the form: the cart's own rows, or the shop's product card.
    back = url_for("buyer.index", _anchor="cart" if op in ("set", "remove", "clear") else "shop")
    answer = not_running(g.run, back)
    if answer is not None:
        return answer
    qty = None
    if op != "clear":
        # Bad input: the reason is flashed and nothing changes (no event: the cart is not an
        # action of the run).
        product = db.session.scalar(db.select(Product).where(Product.run_id == g.run.id,
                                                             Product.sku == sku))
        if product is None or not product.published:
            return refused(NotFound(N_("There is no product %(sku)s in this mall."), "sku",
                                    sku=sku), back, sku=sku, op=op)
        if op != "remove":
            try:
                qty = QTY.parse(request.form.get("qty"))
            except InvalidInput as error:
                return refused(error, back, sku=sku, op=op)
    if not once.claim():
        flash(_("Already done: this form was sent before."), "warning")
        return redirect(url_for("buyer.index", _anchor="cart"), 303)
    db.session.commit()
    if op == "clear":
        _save_cart({})
        return redirect(url_for("buyer.index", _anchor="cart"))
    if op == "remove":
        cart.pop(sku, None)
    else:
        cart[sku] = qty if op == "set" else cart.get(sku, 0) + qty
        cart[sku] = min(cart[sku], registry.MAX_QTY)
    _save_cart(cart)
    flash(_("Cart updated: %(name)s × %(qty)s.", name=product.sku, qty=cart.get(sku, 0)),
          "success")
    return redirect(url_for("buyer.index", _anchor="cart"))


@bp.route("/checkout", methods=["POST"])
def checkout():
    """Place an order for what is in the cart; the cart empties only when the order is made."""
    if g.readonly:
        return redirect(url_for("buyer.index"))
    back = url_for("buyer.index", _anchor="cart")
    answer = not_running(g.run, back)
    if answer is not None:
        return answer
    lines = [{"sku": sku, "qty": qty} for sku, qty in _cart().items()]
    params = {"lines": lines, "payment": request.form.get("payment"),
              "delivery_date": request.form.get("delivery_date")}
    try:
        event = perform(g.run.id, Actor("buyer", "student", current_user.id), "place_order",
                        None, params, request_key=request_key())
    except DomainError as error:
        if error.field == "lines" and not lines:
            error = InvalidInput(N_("Your cart is empty: add products first."), "lines")
        return refused(error, back)
    _save_cart({})
    flash(done_message(event), "success")
    return redirect(url_for("buyer.index", _anchor="orders"))


@bp.route("/certificate", methods=["POST"])
def certificate():
    """Apply for a CA certificate: the password is typed twice (a form check, not a rule)."""
    if g.readonly:
        return redirect(url_for("buyer.index"))
    back = url_for("buyer.index", _anchor="certificate")
    answer = not_running(g.run, back)
    if answer is not None:
        return answer
    if request.form.get("password") != request.form.get("password2"):
        return refused(InvalidInput(N_("The two passwords differ: type the same password "
                                       "twice."), "password"), back)
    try:
        event = perform(g.run.id, Actor("buyer", "student", current_user.id),
                        "request_certificate", None, {"password": request.form.get("password")},
                        request_key=request_key())
    except DomainError as error:
        return refused(error, back)
    flash(done_message(event), "success")
    return redirect(url_for("buyer.index"))
