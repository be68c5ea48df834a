"""The domain's errors. Each carries an untranslated message (marked with N_ for extraction) and
its arguments, so it can be stored with a refused event and shown later in the reader's language,
and the field it is about, so a view can put it beside the input.

Arguments are stored untranslated: a role or action as its key, a name as its {en, zh} mapping,
money as Cents. This module imports nothing from the lab: the layer that knows the names
(lab/engine/labels.py) plugs its translator in with use_translator()."""
from typing import Callable

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


def N_(msgid: str) -> str:  # marks a message for extraction; translated when shown
    return msgid


class DomainError(Exception):
    status = 409  # HTTP status a view answers with

    def __init__(self, msg: str, field: str | None = None, **args):
        super().__init__(msg)
        self.msg = msg
        self.field = field
        self.args_ = {"field": field, **args} if field else dict(args)

    step: dict | None = None  # the scenario step that must come first, when there is one

    def to_json(self) -> dict:
        data = {"msg": self.msg, "args": {k: _plain(v) for k, v in self.args_.items()},
                "field": self.field, "type": type(self).__name__}
        if self.step:
            data["step"] = self.step
        return data

    @property
    def message(self) -> str:
        return render(self.to_json())

    def __str__(self) -> str:  # untranslated, for logs and the command line
        try:
            return self.message
        except Exception:  # outside an app context
            return self.msg % {k: _translate_arg(k, _plain(v)) for k, v in self.args_.items()}


def _plain(value):
    if isinstance(value, Cents):
        return {"cents": int(value)}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def render(error: dict | None) -> str:
    """Translate a stored error into the reader's language, translating the role, action and
    state names it mentions as well."""
    if not error:
        return ""
    args = {key: _translate_arg(key, value) for key, value in (error.get("args") or {}).items()}
    try:
        message = gettext(error["msg"], **args)
    except (KeyError, ValueError, TypeError):
        message = error["msg"]
    if error.get("step"):
        message += " " + gettext("(Step %(number)s of the scenario.)",
                                 number=error["step"]["number"])
    return message


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
