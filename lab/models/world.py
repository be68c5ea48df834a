"""What a run's world is made of: parties with bank accounts, products with stock, and the two
ledgers (stock moves, bank transfers). Balances are cached on the row and guarded in the database:
they can never go below zero."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow


class Party(db.Model):
    """A trading party of a run and its account at the online bank (网上银行).

    key: 'buyer', 'company', 'escrow' (third-party escrow, 第三方担保) or 'vendor:<key>'."""
    __table_args__ = (
        UniqueConstraint("run_id", "key"),
        CheckConstraint("balance_cents >= 0", name="balance_not_negative"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))  # buyer | company | escrow | vendor
    name: Mapped[dict | str] = mapped_column(JSON)
    balance_cents: Mapped[int] = mapped_column(default=0)
    account_no: Mapped[str] = mapped_column(String(32), default="")


class Product(db.Model):
    __table_args__ = (
        UniqueConstraint("run_id", "sku"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[dict | str] = mapped_column(JSON)
    price_cents: Mapped[int] = mapped_column(default=0)
    cost_cents: Mapped[int] = mapped_column(default=0)
    stock: Mapped[int] = mapped_column(default=0)
    vendor_key: Mapped[str | None] = mapped_column(String(80))
    published: Mapped[bool] = mapped_column(default=True)


class StockMove(db.Model):
    """One line of a stock card (库存卡): a signed quantity and the stock after it."""
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"),
                                            index=True)
    qty: Mapped[int]
    stock_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))  # opening|publish|ship|inbound|return|loss
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    product = relationship("Product")
    document = relationship("Document")


class Transfer(db.Model):
    """A bank transfer: debits one party's account and credits another's (double entry)."""
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    from_party_id: Mapped[int] = mapped_column(ForeignKey("party.id"))
    to_party_id: Mapped[int] = mapped_column(ForeignKey("party.id"))
    amount_cents: Mapped[int]
    memo: Mapped[str] = mapped_column(String(32))  # payment|escrow_release|vendor|refund|cod
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    from_party = relationship("Party", foreign_keys=[from_party_id])
    to_party = relationship("Party", foreign_keys=[to_party_id])
    document = relationship("Document")
