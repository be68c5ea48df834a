"""Checks shared by several actions: each raises a refusal that names what must come first."""
from sqlalchemy import select

from ...errors import N_, NotAllowed
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
