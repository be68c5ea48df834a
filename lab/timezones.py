"""Times as the reader's class lives them. The database keeps naive UTC (lab/models/base.py);
every time a page shows or a file exports goes through here, in the time zone of the class the
page belongs to (Classroom.time_zone), else the lab's own (the LAB_TIMEZONE setting, by default
Asia/Shanghai).

Pages use the filters (`{{ e.at|clock }}`, `|stamp`, `|day`, `|short_stamp`); a view that shows
a class's or a run's page says whose zone first: `use_zone(zone)` (the classroom's loaders and
the consoles' guard do it: lab/classroom/zones.py). A page listing runs of several classes
names each one's zone: `{{ run.started_at|stamp(zone) }}`. Exports take the zone explicitly:
`local(dt, zone)`. Flask-Babel converts (its timezone selector is select_zone). A time inside a
stored message (a refusal's "done at 06:05:03") is kept as UTC and shown through here too
(register: lab/errors.py use_clock)."""
from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, g, has_app_context
from babel.dates import get_timezone_location
from flask_babel import format_datetime, get_locale, refresh

from . import errors

DEFAULT_ZONE = "Asia/Shanghai"
# What the class form offers first (any IANA name is accepted: zone_or_none).
COMMON_ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore",
                "Asia/Tokyo", "Asia/Seoul", "Asia/Kolkata", "Europe/London", "Europe/Berlin",
                "America/New_York", "America/Los_Angeles", "Australia/Sydney", "UTC")

# Patterns (CLDR, as Babel reads them) of the four ways a time is shown.
PATTERNS = {"clock": "HH:mm:ss", "stamp": "yyyy-MM-dd HH:mm", "day": "yyyy-MM-dd",
            "short_stamp": "MM-dd HH:mm"}


@cache
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_or_none(name: str | None) -> str | None:
    """The IANA zone name as typed (surrounding spaces dropped), or None when it is none."""
    name = (name or "").strip()
    if name not in _known():
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def lab_zone() -> str:
    """The lab's own zone: LAB_TIMEZONE, else Asia/Shanghai."""
    if has_app_context():
        return current_app.config.get("LAB_TIMEZONE") or DEFAULT_ZONE
    return DEFAULT_ZONE


def select_zone() -> str:
    """Flask-Babel's timezone selector: the zone the view chose (use_zone), else the lab's."""
    return (g.get("lab_zone") if has_app_context() else None) or lab_zone()


def use_zone(zone: str | None) -> None:
    """Show this request's times in `zone` (a class's; None: the lab's)."""
    g.lab_zone = zone_or_none(zone) or lab_zone()
    refresh()  # Flask-Babel caches the zone (and the locale) per request: choose again


def local(dt: datetime | None, zone: str | None = None) -> datetime | None:
    """A stored (naive UTC) time as a naive wall-clock time in `zone` (None: the request's
    zone): what an export writes in its cells."""
    if dt is None:
        return None
    name = zone_or_none(zone) or select_zone()
    return dt.replace(tzinfo=UTC).astimezone(ZoneInfo(name)).replace(tzinfo=None)


def shown(dt: datetime | None, how: str = "stamp", zone: str | None = None) -> str:
    """A stored time as text in `zone` (None: the request's zone; '' for no time); `how` is one
    of PATTERNS."""
    if dt is None:
        return ""
    if zone_or_none(zone) is None:
        return format_datetime(dt, PATTERNS[how])
    return format_datetime(local(dt, zone), PATTERNS[how], rebase=False)


def choices(current: str | None = None) -> list[str]:
    """The zones a form offers: the common ones, and `current` (a class's) when it is another."""
    current = zone_or_none(current)
    return list(COMMON_ZONES) + ([current] if current and current not in COMMON_ZONES else [])


def label(zone: str) -> str:
    """A zone as a reader names it, in their language, with its offset from UTC now:
    "中国（上海）时间 (UTC+08:00)", "China (Shanghai) Time (UTC+08:00)"; "UTC" for UTC."""
    offset = datetime.now(UTC).astimezone(ZoneInfo(zone)).strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}"
    if zone in ("UTC", "Etc/UTC"):
        return "UTC"
    try:
        name = get_timezone_location(zone, locale=str(get_locale() or "en"))
    except (LookupError, ValueError):
        name = zone
    return f"{name} ({offset})"


def _clock(at: datetime) -> str:
    """A time inside a stored message (lab/errors.py), in the reader's zone."""
    return shown(at, "clock")


def register(app) -> None:
    """The template filters: |clock, |stamp, |day, |short_stamp (each takes an optional zone),
    |zone_label; and the clock of stored messages."""
    for how in PATTERNS:
        app.add_template_filter(lambda dt, zone=None, how=how: shown(dt, how, zone), how)
    app.add_template_filter(label, "zone_label")
    errors.use_clock(_clock)
