"""Read-only queries the consoles' panels share (no rules: what to show, not what is allowed)."""
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from lab.extensions import db
from lab.models import Document, Party, Product, StockMove, Transfer


def documents(run, *kinds: str, newest_first: bool = True, limit: int = 200) -> list[Document]:
    order = Document.id.desc() if newest_first else Document.id
    return list(db.session.scalars(select(Document).where(
        Document.run_id == run.id, Document.kind.in_(kinds)).order_by(order).limit(limit)
        .options(joinedload(Document.product))))


def products(run, published_only: bool = True) -> list[Product]:
    query = select(Product).where(Product.run_id == run.id)
    if published_only:
        query = query.where(Product.published.is_(True))
    return list(db.session.scalars(query.order_by(Product.sku)))


def parties(run) -> list[Party]:
    return list(db.session.scalars(select(Party).where(Party.run_id == run.id)
                                   .order_by(Party.id)))


def party(run, key: str) -> Party | None:
    return db.session.scalar(select(Party).where(Party.run_id == run.id, Party.key == key))


def transfers(run, party_id: int | None = None, limit: int = 500) -> list[Transfer]:
    query = select(Transfer).where(Transfer.run_id == run.id)
    if party_id is not None:
        query = query.where(or_(Transfer.from_party_id == party_id,
                                Transfer.to_party_id == party_id))
    return list(db.session.scalars(query.order_by(Transfer.id).limit(limit).options(
        joinedload(Transfer.document), joinedload(Transfer.from_party),
        joinedload(Transfer.to_party))))


def ledger(run) -> tuple[list[Party], list[dict]]:
    """Every transfer with each account's balance after it (the bank's running balances).

    Balances are walked back from the current ones, so the last row ends at today's balance."""
    accounts = parties(run)
    rows = transfers(run)
    balance = {p.id: p.balance_cents for p in accounts}
    out = []
    for t in reversed(rows):
        out.append({"transfer": t, "after": dict(balance)})
        balance[t.from_party_id] += t.amount_cents
        balance[t.to_party_id] -= t.amount_cents
    out.reverse()
    return accounts, out


def stock_card(run, product_id: int) -> list[StockMove]:
    return list(db.session.scalars(select(StockMove).where(
        StockMove.run_id == run.id, StockMove.product_id == product_id).order_by(StockMove.id)))


def recent_moves(run, limit: int = 10) -> list[StockMove]:
    return list(db.session.scalars(select(StockMove).where(StockMove.run_id == run.id)
                                   .order_by(StockMove.id.desc()).limit(limit)
                                   .options(joinedload(StockMove.product),
                                            joinedload(StockMove.document))))


def starting_actions(run, role: str) -> list:
    """Actions of this role that start something (no document): their forms go in a panel."""
    from lab.engine import registry
    return [a for a in registry.actions_for(role, run.mode)
            if a.on is None and not any(f.kind == "lines" for f in a.inputs)]
