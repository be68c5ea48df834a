"""The audit log: one row per accepted action and one per refused attempt. Grading, replay, the
live board and the bots all read it."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow


class Event(db.Model):
    __table_args__ = (UniqueConstraint("run_id", "request_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    actor: Mapped[str] = mapped_column(String(16))  # student | bot | instructor | system
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    case_id: Mapped[int | None]
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    ok: Mapped[bool] = mapped_column(default=True)
    # A refusal, stored untranslated: {"msg": msgid, "args": {...}}; shown in the reader's language.
    error: Mapped[dict | None] = mapped_column(JSON)
    # The form's one-time key: the same submission twice is the same action once (a refused
    # form's key is kept as "refused:<key>", so the same refused form is one mistake).
    request_key: Mapped[str | None] = mapped_column(String(80))
    # The world at the moment of an accepted action, as the scenario layer noted it for grading
    # ({"shortfall": 20, "ordered": 120, …}: the values a check's $names stand for).
    world: Mapped[dict | None] = mapped_column(JSON)

    user = relationship("User")
    document = relationship("Document")
