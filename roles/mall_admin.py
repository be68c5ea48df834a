"""The mall admin's console (商城管理员): products, notices, members and the CA."""
from . import queries
from .common import Console

console = Console("mall_admin")
bp = console.bp


@console.panels
def panels(run):
    return {"products": queries.products(run, published_only=False),
            "notices": queries.documents(run, "notice"),
            "members": queries.documents(run, "membership"),
            "certificates": queries.documents(run, "certificate"),
            "parties": [p for p in queries.parties(run) if p.kind in ("buyer", "company")],
            "starting": queries.starting_actions(run, "mall_admin")}
