"""The domain's errors. Each carries an untranslated message (marked with N_ for extraction) and
its arguments, so it can be stored with a refused event and shown later in the reader's language,
and the field it is about, so a view can put it beside the input.

Every problem the lab reports is one `Problem`: a refused action (a DomainError's `problem`,
stored with its event), a line of a refused or imported roster, and a finding of a scenario file.
Each is a msgid with its arguments, where it was found and how serious it is, stored as JSON
(to_json / from_json) and translated only when shown (text()).

Arguments are stored untranslated: a role or action as its key, a name as its {en, zh} mapping,
money as Cents, a time as the (naive UTC) datetime, stored as {"utc": "2026-12-01T22:05:03"}.
This module imports nothing from the lab: the layer that knows the names (lab/engine/labels.py)
plugs its translator in with use_translator(), and the one that knows the reader's time zone
(lab/timezones.py) its clock with use_clock(): a time is shown as the reader's HH:MM:SS."""
from __future__ import annotations

from dataclasses import dataclass, field as _field
from collections.abc import Callable
from datetime import UTC, datetime

from flask_babel import gettext


class Cents(int):
    """An amount of money in a message's arguments (stored as {"cents": n}, shown as 176.00)."""


def _identity(_key: str, value):
    return value


_translate_arg: Callable = _identity


def use_translator(translate: Callable) -> None:
    """translate(key, stored value) -> what the reader sees (lab/engine/labels.py)."""
    global _translate_arg
    _translate_arg = translate


def _utc_clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S")


_show_time: Callable = _utc_clock


def use_clock(show: Callable) -> None:
    """show(naive UTC datetime) -> the time as the reader reads it (lab/timezones.py)."""
    global _show_time
    _show_time = show


def _time(at: datetime) -> str:
    try:
        return _show_time(at)
    except (RuntimeError, AttributeError, KeyError, ValueError):  # outside an app context
        return _utc_clock(at)


def _arg(key: str, value, translate: bool = True):
    """An argument as the reader sees it: a time in their zone, a name in their language."""
    if isinstance(value, dict) and set(value) == {"utc"}:
        try:
            value = datetime.fromisoformat(value["utc"])
        except (TypeError, ValueError):
            return value["utc"]
    if isinstance(value, datetime):
        return _time(value)
    return _translate_arg(key, value) if translate else value


def N_(msgid: str) -> str:  # marks a message for extraction; translated when shown
    return msgid


@dataclass
class Problem:
    """One problem, in one shape whatever found it.

    `where` is a msgid too (its arguments are in `args`): "step '%(id)s' (#%(n)s)", "file"…; `line`
    is the line of an uploaded file (0: none, or the file as a whole). `kind` says how serious it
    is: "problem" (nothing was done), "warning" (shown, but the file still loads), or what an
    import did with a line ("left_out", "enrolled", "kept"). A refusal's arguments are stored
    untranslated by key (a role, an action, a name as its {en, zh} mapping: `labelled`) and
    named in the reader's language when shown; `type` is the refusal's class, `step` the scenario
    step that must come first."""
    where: str = ""
    field: str | None = None
    msg: str = ""
    args: dict = _field(default_factory=dict)
    warning: bool = False
    line: int = 0
    kind: str = "problem"
    type: str = ""
    step: dict | None = None
    labelled: bool = False

    def __post_init__(self):
        if self.warning:
            self.kind = "warning"
        elif self.kind == "warning":
            self.warning = True

    def _args(self) -> dict:
        return {key: _arg(key, value, self.labelled) for key, value in (self.args or {}).items()}

    def text(self) -> str:
        """The problem in the reader's language (or untranslated outside an app context)."""
        args = self._args()
        message = _gettext(self.msg, args)
        if self.step:
            message += " " + _gettext(N_("(Step %(number)s of the scenario.)"),
                                      {"number": self.step["number"]})
        if self.line and not self.where:
            return _gettext(N_("line %(line)s: %(problem)s"),
                            {"line": self.line, "problem": message})
        if self.where:
            where = _gettext(self.where, args)
            message = f"{where}: {self.field}: {message}" if self.field else \
                f"{where}: {message}"
        return f"{_gettext(N_('warning'), {})}: {message}" if self.warning else message

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> dict:
        if self.labelled:  # a refusal, as events have always stored it
            data = {"msg": self.msg, "args": {k: _plain(v) for k, v in self.args.items()},
                    "field": self.field, "type": self.type}
            if self.step:
                data["step"] = self.step
            return data
        data = {"msg": self.msg, "args": {k: _plain(v) for k, v in (self.args or {}).items()}}
        for key in ("where", "field", "line", "step"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.kind != "problem":
            data["kind"] = self.kind
        return data

    @classmethod
    def from_json(cls, data: dict) -> Problem:
        if "type" in data:  # a refusal
            return cls(field=data.get("field"), msg=data["msg"], args=data.get("args") or {},
                       type=data["type"], step=data.get("step"), labelled=True)
        return cls(where=data.get("where", ""), field=data.get("field") or None,
                   msg=data.get("msg", data.get("message", "")), args=data.get("args") or {},
                   warning=bool(data.get("warning")), line=data.get("line") or 0,
                   kind=data.get("kind", "problem"), step=data.get("step"))


def _gettext(msgid: str, args: dict) -> str:
    try:
        return gettext(msgid, **args)
    except (RuntimeError, AttributeError):  # outside an app context: the msgid, filled in
        try:
            return msgid % args if args else msgid
        except (KeyError, ValueError, TypeError):
            return msgid
    except (KeyError, ValueError, TypeError):
        return msgid


class DomainError(Exception):
    status = 409  # HTTP status a view answers with

    def __init__(self, msg: str, field: str | None = None, **args):
        super().__init__(msg)
        self.msg = msg
        self.field = field
        self.args_ = {"field": field, **args} if field else dict(args)

    step: dict | None = None  # the scenario step that must come first, when there is one

    @property
    def problem(self) -> Problem:
        return Problem(field=self.field, msg=self.msg, args=dict(self.args_),
                       type=type(self).__name__, step=self.step, labelled=True)

    def to_json(self) -> dict:
        return self.problem.to_json()

    @property
    def message(self) -> str:
        return render(self.to_json())

    def __str__(self) -> str:  # untranslated, for logs and the command line
        try:
            return self.message
        except Exception:  # outside an app context
            return self.msg % {k: _arg(k, _plain(v)) for k, v in self.args_.items()}


def _plain(value):
    if isinstance(value, Cents):
        return {"cents": int(value)}
    if isinstance(value, datetime):  # naive UTC, as the lab stores times
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return {"utc": value.isoformat(timespec="seconds")}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def render(error: dict | None) -> str:
    """Translate a stored problem (a refusal as its event keeps it) into the reader's language,
    translating the role, action and state names it mentions as well."""
    if not error:
        return ""
    return Problem(field=error.get("field"), msg=error["msg"], args=error.get("args") or {},
                   type=error.get("type", ""), step=error.get("step"), labelled=True).text()


class InvalidInput(DomainError):
    """A form value the action cannot take (the field names it)."""
    status = 400


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class NotAllowed(DomainError):
    """The action does not fit the document's state, or something must come first."""

    def __init__(self, msg: str, field: str | None = None, need=None, **args):
        super().__init__(msg, field, **args)
        self.need = need  # planner.Need: what must come first, when known


class AlreadyDone(DomainError):
    """Somebody (maybe the same person, by a double click) already did it."""


class Busy(DomainError):
    status = 503
