"""The instructor's side: classes (班级), their students, groups (小组), assignments of a
scenario to groups (one run per group), grade adjustments and students' reflections (实验心得)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow


class Classroom(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    instructor_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    join_code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the group size last chosen on the class page (shown again there); None: never grouped
    group_size: Mapped[int | None]
    # the IANA time zone every time of the class is shown and exported in (lab/timezones.py);
    # None: the lab's (LAB_TIMEZONE)
    time_zone: Mapped[str | None] = mapped_column(String(64))

    instructor = relationship("User")
    enrollments: Mapped[list["Enrollment"]] = relationship(
        back_populates="classroom", cascade="all, delete-orphan")
    groups: Mapped[list["Group"]] = relationship(
        back_populates="classroom", cascade="all, delete-orphan", order_by="Group.number")


class Group(db.Model):
    __table_args__ = (UniqueConstraint("classroom_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classroom.id", ondelete="CASCADE"),
                                              index=True)
    number: Mapped[int]
    # role → user id; a role left out is played by a bot.
    roles: Mapped[dict] = mapped_column(JSON, default=dict)

    classroom: Mapped[Classroom] = relationship(back_populates="groups")
    members: Mapped[list["Enrollment"]] = relationship(back_populates="group")


class Enrollment(db.Model):
    __table_args__ = (UniqueConstraint("classroom_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classroom.id", ondelete="CASCADE"),
                                              index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group.id", ondelete="SET NULL"))
    initial_password: Mapped[str | None] = mapped_column(String(64))  # for the credential sheet

    classroom: Mapped[Classroom] = relationship(back_populates="enrollments")
    group: Mapped[Group | None] = relationship(back_populates="members")
    user = relationship("User")


class Assignment(db.Model):
    """A scenario given to some or all groups of a class: one run per group."""
    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classroom.id", ondelete="CASCADE"),
                                              index=True)
    scenario_slug: Mapped[str] = mapped_column(String(100))
    scenario_text: Mapped[str] = mapped_column(Text)
    title: Mapped[dict | str] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    classroom = relationship("Classroom")
    runs = relationship("Run", order_by="Run.id")


class Adjustment(db.Model):
    """A manual change to a grade, with the instructor's comment (kept, never overwritten)."""
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # None: the whole group
    points: Mapped[float]
    comment: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Reflection(db.Model):
    """实验心得: what a student wrote about a run; the instructor may mark it."""
    __table_args__ = (UniqueConstraint("run_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    mark: Mapped[float | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
