"""Every business document of a run (订单, 缺货单, 采购单, 合同, 发票, 退货单, …) is a row of one
table, so that one guarded update moves any of them and one query fills any inbox. Each kind is a
subclass (single-table inheritance) in its own module, with the columns it reads named there."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow

PREFIX = {
    "order": "SO", "shipment": "FH", "shortage": "QH", "purchase_order": "PO", "inbound": "RK",
    "inquiry": "XJ", "quote": "BJ", "contract": "HT", "payment_reminder": "CK", "invoice": "FP",
    "return": "TH", "review": "PJ", "notice": "GG", "membership": "HY", "certificate": "ZS",
}


class Document(db.Model):
    __table_args__ = (UniqueConstraint("run_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    number: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), index=True)
    # Optimistic lock: every guarded update requires the version it read and bumps it.
    version: Mapped[int] = mapped_column(default=1)
    # The case: the order or inquiry a chain of documents started from (its own id for a root).
    case_id: Mapped[int | None] = mapped_column(index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    party_key: Mapped[str | None] = mapped_column(String(80))  # vendor of a PO, holder of a cert
    qty: Mapped[int | None]
    amount_cents: Mapped[int | None]
    payment: Mapped[str | None] = mapped_column(String(16))  # orders: unpaid|paid|confirmed|...
    text: Mapped[str | None] = mapped_column(Text)  # reasons, notice bodies, review text
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # kind-specific extras
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    product = relationship("Product")
    parent = relationship("Document", remote_side=[id])
    lines: Mapped[list["DocumentLine"]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="DocumentLine.id",
        lazy="selectin")

    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "document",
                       "version_id_col": version}

    @property
    def total_cents(self) -> int:
        if self.amount_cents is not None:
            return self.amount_cents
        return sum(line.qty * line.price_cents for line in self.lines)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.number} {self.state}>"


class DocumentLine(db.Model):
    """A line of an order, return, contract or invoice."""
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"),
                                             index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    qty: Mapped[int]
    price_cents: Mapped[int]

    document = relationship("Document", back_populates="lines")
    product = relationship("Product", lazy="joined")

    @property
    def amount_cents(self) -> int:
        return self.qty * self.price_cents
