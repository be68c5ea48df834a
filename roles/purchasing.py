"""The purchasing department's console (采购部): shortages, purchase orders, vendors."""
from . import queries
from .common import Console

console = Console("purchasing")
bp = console.bp


@console.panels
def panels(run):
    products = queries.products(run, published_only=False)
    vendors = [p for p in queries.parties(run) if p.kind == "vendor"]
    supplies = {v.key: [p for p in products if p.vendor_key == v.key] for v in vendors}
    return {"shortages": queries.documents(run, "shortage"),
            "purchase_orders": queries.documents(run, "purchase_order"),
            "vendor_parties": vendors, "supplies": supplies}
