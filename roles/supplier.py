"""The sales department's console (企业销售部; 供货方 in B2B): orders, shortages, inquiries and
quotes, contracts and invoices in EDI, returns."""
from . import queries
from .common import Console

console = Console("supplier")
bp = console.bp


@console.panels
def panels(run):
    return {"orders": queries.documents(run, "order"),
            "shortages": queries.documents(run, "shortage"),
            "edi": queries.documents(run, "inquiry", "quote", "contract", "invoice"),
            "returns": queries.documents(run, "return")}
