"""The finance department's console (财务部): receivables, purchase orders to approve, refunds,
and the online bank's ledger with every account's running balance."""
from flask import render_template, g

from . import queries
from .common import Console, common_context

console = Console("finance")
bp = console.bp


@console.panels
def panels(run):
    return {"accounts": queries.parties(run), "orders": queries.documents(run, "order"),
            "purchase_orders": queries.documents(run, "purchase_order"),
            "returns": queries.documents(run, "return")}


@bp.route("/ledger")
def ledger():
    accounts, rows = queries.ledger(g.run)
    return render_template("roles/ledger.html", accounts=accounts, rows=rows,
                           **common_context(g.run))
