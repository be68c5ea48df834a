"""The warehouse's console (储运部; 货场管理员 in B2B): stock levels and stock cards, the pick
list, inbound deliveries, returns, payment reminders."""
from flask import abort, g, render_template

from lab.extensions import db
from lab.models import Product

from . import queries
from .common import Console, common_context

console = Console("warehouse")
bp = console.bp


@console.panels
def panels(run):
    return {"products": queries.products(run, published_only=False),
            "moves": queries.recent_moves(run),
            "shipments": queries.documents(run, "shipment", limit=20),
            "reminders": queries.documents(run, "payment_reminder", limit=20),
            "inbound": queries.documents(run, "inbound", limit=20),
            "returns": queries.documents(run, "return", limit=20)}


@bp.route("/stock/<int:product_id>")
def stock_card(product_id):
    product = db.session.get(Product, product_id)
    if product is None or product.run_id != g.run.id:
        abort(404)
    return render_template("roles/stock_card.html", product=product,
                           moves=queries.stock_card(g.run, product.id), **common_context(g.run))
