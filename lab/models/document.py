"""Every business document of a run (订单, 缺货单, 采购单, 合同, 发票, 退货单, …) is a row of one
table, so that one guarded update moves any of them and one query fills any inbox. Each kind is a
subclass (single-table inheritance) in its own module, with the columns it reads named there
and its `data` read through typed accessors (DataField). What a kind is called, its number
prefix, its states and their badges are declared in lab/specs.py."""
from datetime import datetime
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..specs import KIND, PREFIX, KindSpec  # noqa: F401  (PREFIX: kind → number prefix)
from .base import utcnow


class DataField:
    """A typed, read-only accessor for one key of a document's `data` (the key is the attribute's
    name): `payment_method = DataField(str, "bank_transfer")`. Missing: the default."""

    def __init__(self, type_: Callable | None = str, default: Any = None):
        self.type, self.default = type_, default
        self.key = ""

    def __set_name__(self, owner, name: str) -> None:
        self.key = name

    def __get__(self, doc, owner=None):
        if doc is None:
            return self
        value = (doc.data or {}).get(self.key)
        if value is None:
            return self.default
        return self.type(value) if self.type is not None else value


def data_fields(cls) -> set[str]:
    """The `data` keys a document class reads through DataFields."""
    return {name for klass in cls.__mro__ for name, attr in vars(klass).items()
            if isinstance(attr, DataField)}


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
    def spec(self) -> KindSpec | None:
        return KIND.get(self.kind)

    @property
    def tone(self) -> str:
        """Its state badge's tone (a CSS class `tone-<tone>`)."""
        spec = self.spec
        return spec.tone(self.state) if spec is not None else "new"

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
