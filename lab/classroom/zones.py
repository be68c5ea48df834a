"""A class's time zone (Classroom.time_zone; None: the lab's): which zone a page of a class or of
one of its runs shows its times in, and the instructor's choice of it. The loaders of access.py
and the consoles' guard (roles/common.py) call show_class / show_run; lab/timezones.py formats."""
from __future__ import annotations

from sqlalchemy import select

from .. import timezones
from ..errors import N_, InvalidInput
from ..extensions import db
from ..models import Assignment, Classroom, Run


def of_class(classroom: Classroom | None) -> str:
    """The zone a class's times are shown in: its own, else the lab's."""
    return timezones.zone_or_none(classroom.time_zone if classroom else None) \
        or timezones.lab_zone()


def of_run(run: Run) -> str:
    """The zone of the class a run belongs to; a practice run (no class): the lab's."""
    if run.assignment_id is None:
        return timezones.lab_zone()
    zone = db.session.scalar(select(Classroom.time_zone).join(
        Assignment, Assignment.classroom_id == Classroom.id).where(
        Assignment.id == run.assignment_id))
    return timezones.zone_or_none(zone) or timezones.lab_zone()


def show_class(classroom: Classroom) -> None:
    """This request shows its times in the class's zone."""
    timezones.use_zone(of_class(classroom))


def show_run(run: Run) -> None:
    """This request shows its times in the zone of the run's class (a practice run: the lab's)."""
    timezones.use_zone(of_run(run))


def chosen(name: str | None) -> str:
    """A zone a form sent: an IANA name (any, not only the ones the form offers), else
    InvalidInput saying so."""
    zone = timezones.zone_or_none(name)
    if zone is None:
        raise InvalidInput(N_("“%(name)s” is not a time zone: choose one from the list (an IANA "
                              "name such as Asia/Shanghai)."), "time_zone",
                           name=(name or "").strip()[:64])
    return zone


def set_zone(classroom: Classroom, name: str | None) -> str:
    """Show (and export) the class's times in the zone `name`; InvalidInput changes nothing."""
    classroom.time_zone = chosen(name)
    db.session.flush()
    return classroom.time_zone
