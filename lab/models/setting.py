"""The lab's site settings, changed by a lab admin (/admin/settings): one row per setting that
differs from its default, as text. A setting with no row has its default, so a new setting
needs no data migration.

Settings are declared in DEFAULTS; `flag()` and `set_flag()` read and write an on/off one, and
each setting the lab asks about has its own function (`self_registration_open()`)."""
from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow

# "Self-registration for self-learners": anybody may make an account of their own (the "Learn
# on my own" form of the registration page) or a temporary one ("Try a scenario now"). Off,
# only a class's join code (or an instructor, a roster, the admin) makes accounts.
SELF_REGISTRATION = "self_registration"

DEFAULTS = {SELF_REGISTRATION: "on"}
ON, OFF = "on", "off"


class Setting(db.Model):
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def flag(key: str) -> bool:
    """An on/off setting: its stored value, else its default."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == key))
    return (value if value is not None else DEFAULTS[key]) == ON


def set_flag(key: str, on: bool) -> bool:
    """Turn an on/off setting on or off; whether it changed. Flushes; the caller commits."""
    if key not in DEFAULTS:
        raise KeyError(key)
    if flag(key) == on:
        return False
    setting = db.session.get(Setting, key)
    if setting is None:
        setting = Setting(key=key)
        db.session.add(setting)
    setting.value = ON if on else OFF
    db.session.flush()
    return True


def self_registration_open() -> bool:
    """Whether people may make accounts of their own: a self-learner's, or a temporary one."""
    return flag(SELF_REGISTRATION)
