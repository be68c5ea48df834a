"""The finance department's console (财务部): receivables, purchase orders to approve, refunds,
and the online bank's ledger of the company's own accounts with their running balances."""
from flask import render_template, g

from . import queries
from .common import Console, common_context

console = Console("finance")
bp = console.bp

# The accounts the company's finance department sees: its own bank account and what the
# escrow service holds for its orders. Customers' and vendors' balances are their own business:
# finance sees what they paid or were paid (the ledger's transfers), never what they have left.
OWN_ACCOUNTS = ("company", "escrow")


def own_accounts(run) -> list:
    return [p for p in queries.parties(run) if p.key in OWN_ACCOUNTS]


@console.panels
def panels(run):
    return {"accounts": own_accounts(run), "orders": queries.documents(run, "order"),
            "purchase_orders": queries.documents(run, "purchase_order"),
            "returns": queries.documents(run, "return")}


@bp.route("/ledger")
def ledger():
    _, rows = queries.ledger(g.run)
    accounts = own_accounts(g.run)
    ids = {a.id for a in accounts}
    rows = [row for row in rows
            if ids & {row["transfer"].from_party_id, row["transfer"].to_party_id}]
    return render_template("roles/ledger.html", accounts=accounts, rows=rows,
                           **common_context(g.run))
