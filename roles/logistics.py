"""The logistics department's console (物流部): outbound waybills, inbound deliveries from
vendors, return pick-ups."""
from . import queries
from .common import Console

console = Console("logistics")
bp = console.bp


@console.panels
def panels(run):
    return {"shipments": queries.documents(run, "shipment"),
            "inbound": queries.documents(run, "purchase_order", "inbound"),
            "returns": queries.documents(run, "return")}
