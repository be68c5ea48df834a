"""A run is one world: one group playing one scenario, or one self-learner practising."""
from datetime import datetime, timedelta

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..specs import ROLES  # noqa: F401  (the seat roles, declared in lab/specs.py)
from .base import utcnow


class Run(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[dict | str] = mapped_column(JSON)
    scenario_slug: Mapped[str] = mapped_column(String(100))
    scenario_text: Mapped[str] = mapped_column(Text)  # the exact text the run started from
    mode: Mapped[str] = mapped_column(String(8))  # b2c | b2b
    kind: Mapped[str] = mapped_column(String(16), default="class")  # class | solo | autoplay
    # ready | running | paused | finished, or "archived": what a group's run held before an
    # instructor reset it to before a step (kept for audit; `archived_from_id` is that run).
    status: Mapped[str] = mapped_column(String(16), default="ready")
    workflow: Mapped[dict] = mapped_column(JSON, default=dict)
    time_limit_minutes: Mapped[int | None]
    bot_delay_seconds: Mapped[float] = mapped_column(default=2.0)
    bots_enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    paused_seconds: Mapped[float] = mapped_column(default=0.0)
    finished_at: Mapped[datetime | None]
    # Raised by every event: a poll compares it and does nothing else when it has not moved.
    last_event_id: Mapped[int] = mapped_column(default=0)
    # The bots' bookmark: the last event after which they found nothing to do, and the time a
    # waiting `at_minute` step falls due; a poll ticks the bots only when one of them moved.
    bots_checked_event: Mapped[int] = mapped_column(default=-1)
    bots_next_at: Mapped[datetime | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"))
    archived_from_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"), index=True)

    seats: Mapped[list["Seat"]] = relationship(back_populates="run", cascade="all, delete-orphan")

    def workflow_on(self, step: str) -> bool:
        return bool((self.workflow or {}).get(step, True))

    def elapsed(self, now: datetime | None = None) -> timedelta:
        """Playing time so far: wall time since start, less time spent paused."""
        if not self.started_at:
            return timedelta(0)
        end = self.finished_at or self.paused_at or now or utcnow()
        return end - self.started_at - timedelta(seconds=self.paused_seconds or 0)

    def seconds_left(self) -> int | None:
        """Seconds left of the time limit (all of it before the start; frozen while paused),
        or None without a limit."""
        if not self.time_limit_minutes:
            return None
        return max(0, int(self.time_limit_minutes * 60 - self.elapsed().total_seconds()))

    def held_roles(self) -> set[str]:
        return {seat.role for seat in self.seats}


class Seat(db.Model):
    """A user holding a role in a run: what authorises an action."""
    __table_args__ = (UniqueConstraint("run_id", "user_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))

    run: Mapped[Run] = relationship(back_populates="seats")
    user = relationship("User")
