"""Checks shared by several actions: each raises a refusal that names what must come first."""
from sqlalchemy import func, select

from ...errors import N_, Cents, NotAllowed
from ...extensions import db
from ...models import Document, Membership
from ..core import already_done
from ..planner import need


def member_approved(ctx) -> None:
    """A B2B buyer company trades only once the mall admin approved its membership."""
    if ctx.run.mode != "b2b":
        return
    pending = db.session.scalar(select(Membership).where(
        Membership.run_id == ctx.run.id, Membership.state == "applied").limit(1))
    if pending is not None:
        raise need(ctx.run.id, pending, "approve_member",
                   N_("Your company is not an approved member of the marketplace yet: first "
                      "%(first_role)s must “%(first)s”."))


def contract_signed(ctx) -> None:
    """In B2B, money and goods move only under a signed contract."""
    order = ctx.doc
    if ctx.run.mode != "b2b" or order.state in ("signed", "shipped", "delivered", "received"):
        return
    step = "sign_contract" if order.state == "contracted" else "issue_contract"
    raise need(ctx.run.id, order, step,
               N_("%(number)s has no signed contract yet: first %(first_role)s must "
                  "“%(first)s”."), number=order.number)


def not_done_before(name: str, flag: str):
    """For actions done once per document, recorded as a flag in its data."""
    def gate(ctx) -> None:
        if ctx.doc.data.get(flag):
            done = already_done(ctx.run.id, name, ctx.doc)
            if done is not None:
                raise done
            raise NotAllowed(N_("Already done for %(number)s."), number=ctx.doc.number)
    return gate


def latest(ctx, kind: str, *states: str) -> Document | None:
    found = ctx.in_case(kind, *states)
    return found[-1] if found else None


# ---- money ----------------------------------------------------------------------------------
# A payment is refused by the bank when the account is short (core.Context.transfer). These
# gates say so before anything moves, so a dry run (the guide, the bots' plan) sees it too. And
# money is promised where the business promises it: an order is placed (a purchase order raised)
# only when what the account holds, less what it already owes for unpaid orders (purchase orders
# waiting for approval), covers it, as a checkout's pre-authorisation or a credit check does.
# So the later payments of what was promised cannot fail for want of money.

def can_pay(ctx, key: str, cents: int) -> None:
    """The bank's answer before a payment of cents from the account `key`."""
    party = ctx.party(key)
    if cents > 0 and party.balance_cents < cents:
        raise NotAllowed(N_("%(party)s has only %(balance)s in the bank: %(amount)s is needed."),
                         party=party.name, balance=Cents(party.balance_cents),
                         amount=Cents(cents))


OWED = {  # account → what it already owes: (document kind, states, payment), and the messages
    "buyer": ("order", None, "unpaid",
              N_("%(party)s has only %(balance)s in the bank: this order comes to %(amount)s."),
              N_("%(party)s has %(balance)s in the bank, but %(owed)s of it is owed for unpaid "
                 "orders: this order comes to %(amount)s.")),
    "company": ("purchase_order", ("submitted",), None,
                N_("%(party)s has only %(balance)s in the bank: this purchase order comes to "
                   "%(amount)s."),
                N_("%(party)s has %(balance)s in the bank, but %(owed)s of it is for purchase "
                   "orders waiting for approval: this purchase order comes to %(amount)s.")),
}


def can_promise(ctx, key: str, cents: int, field: str | None = None) -> None:
    """Refuse a new order (purchase order) that the account cannot pay on top of what it
    already owes; the refusal names the balance."""
    kind, states, payment, short, owing = OWED[key]
    query = select(func.coalesce(func.sum(Document.amount_cents), 0)).where(
        Document.run_id == ctx.run.id, Document.kind == kind)
    if states:
        query = query.where(Document.state.in_(states))
    if payment:
        query = query.where(Document.payment == payment)
    owed = db.session.scalar(query) or 0
    party = ctx.party(key)
    if cents > 0 and party.balance_cents - owed < cents:
        raise NotAllowed(owing if owed else short, field, party=party.name,
                         balance=Cents(party.balance_cents), owed=Cents(owed),
                         amount=Cents(cents))
