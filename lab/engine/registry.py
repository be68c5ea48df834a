"""The one registry of actions. Each action is declared once: who does it, on which document
kind, from which states to which state, what it takes, and its effect. The engine, the consoles'
inboxes and buttons, the bots, the planner, scenario validation and grading all read it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from collections.abc import Callable

from ..errors import InvalidInput, N_

MAX_QTY = 100_000
MAX_PRICE_CENTS = 100_000_000  # 1,000,000.00


@dataclass(frozen=True)
class Field:
    """One input of an action. kind: int, money, text, choice, date, password, lines, vendor."""
    name: str
    kind: str = "text"
    required: bool = True
    minimum: int = 1
    maximum: int = MAX_QTY
    choices: tuple[str, ...] = ()
    max_length: int = 500
    min_length: int = 0

    def parse(self, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
            if self.required:
                raise InvalidInput(N_("Please fill in %(field)s."), self.name)
            return None
        return getattr(self, "_parse_" + self.kind)(raw)

    def _parse_int(self, raw):
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise InvalidInput(N_("%(field)s must be a whole number."), self.name) from None
        if not self.minimum <= value <= self.maximum:
            raise InvalidInput(N_("%(field)s must be between %(min)s and %(max)s."), self.name,
                               min=self.minimum, max=self.maximum)
        return value

    def _parse_money(self, raw):
        try:
            value = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise InvalidInput(N_("%(field)s must be an amount such as 88.00."),
                               self.name) from None
        if not value.is_finite():  # NaN, sNaN, Infinity: no amount at all
            raise InvalidInput(N_("%(field)s must be an amount such as 88.00."), self.name)
        if value.adjusted() > 12 or value.adjusted() < -12:  # 1e999999999: absurd, refused
            raise InvalidInput(N_("%(field)s must be an amount from 0.00 to 1,000,000.00."),
                               self.name)
        cents = value * 100
        if cents != cents.to_integral_value() or not 0 <= cents <= MAX_PRICE_CENTS:
            raise InvalidInput(N_("%(field)s must be an amount from 0.00 to 1,000,000.00."),
                               self.name)
        return int(cents)

    def _parse_text(self, raw):
        value = str(raw).strip()
        if len(value) < self.min_length:
            raise InvalidInput(N_("%(field)s must have at least %(min)s characters."),
                               self.name, min=self.min_length)
        if len(value) > self.max_length:
            raise InvalidInput(N_("%(field)s is too long (at most %(max)s characters)."),
                               self.name, max=self.max_length)
        return value

    _parse_password = _parse_text

    def _parse_choice(self, raw):
        value = str(raw).strip()
        if value not in self.choices:
            raise InvalidInput(N_("%(field)s must be one of: %(choices)s."), self.name,
                               choices=", ".join(self.choices))
        return value

    def _parse_date(self, raw):
        try:
            return date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise InvalidInput(N_("%(field)s must be a date such as 2026-12-01."),
                               self.name) from None

    _parse_vendor = _parse_text

    def _parse_lines(self, raw):
        """[{sku, qty}, …]; the same sku twice is added up."""
        if not isinstance(raw, (list, tuple)):
            raise InvalidInput(N_("%(field)s must list products and quantities."), self.name)
        merged: dict[str, int] = {}
        qty = Field("qty", "int")
        for line in raw:
            if not isinstance(line, dict) or not str(line.get("sku", "")).strip():
                raise InvalidInput(N_("Each line needs a product (sku) and a quantity."),
                                   self.name)
            sku = str(line["sku"]).strip()
            merged[sku] = merged.get(sku, 0) + qty.parse(line.get("qty"))
            if merged[sku] > MAX_QTY:
                raise InvalidInput(N_("%(field)s must be between %(min)s and %(max)s."), "qty",
                                   min=1, max=MAX_QTY)
        if not merged:
            raise InvalidInput(N_("Please fill in %(field)s."), self.name)
        return [{"sku": sku, "qty": q} for sku, q in merged.items()]


@dataclass(frozen=True)
class Action:
    name: str
    role: str
    on: str | None  # document kind acted on; None: the action starts something new
    effect: Callable
    label: Any = ""  # lazy_gettext: the button's words
    # States the document must be in: a tuple, or {mode: tuple} where B2B and B2C differ.
    from_states: tuple[str, ...] | dict = ()
    to_state: str | None = None
    # States the planner may route through this action, when narrower than from_states (an
    # action may accept a state only to refuse it with a gate's clearer message).
    plan_from: dict | None = None
    inputs: tuple[Field, ...] = ()
    modes: tuple[str, ...] = ("b2c", "b2b")
    starts_case: bool = False
    # (kind, from_states, to_state): the action also moves the document of that kind its
    # document comes from (the nearest ancestor), when in from_states. perform() applies it.
    also: tuple[str, tuple[str, ...], str] | None = None
    # Checks beyond the state: each returns None or raises a DomainError (NotAllowed with a
    # planner Need when something must come first, AlreadyDone when it was done).
    requires: tuple[Callable, ...] = ()
    alternative: bool = False  # off the happy path (reject_*): planner and gap-filling bots skip it
    extra: bool = False  # not in scenario format 1 (the lab accepts more than it promises)

    def sources(self, mode: str) -> tuple[str, ...]:
        if isinstance(self.from_states, dict):
            return tuple(self.from_states.get(mode, ()))
        return self.from_states

    def plan_sources(self, mode: str) -> tuple[str, ...]:
        if self.plan_from is not None:
            return tuple(self.plan_from.get(mode, ()))
        return self.sources(mode)

    def parse(self, params: dict) -> dict:
        params = params or {}
        values = {f.name: f.parse(params.get(f.name)) for f in self.inputs}
        return values

    def form_of(self, values: dict) -> dict:
        """The form input that parses to these values (as an event records them): money goes
        back from cents to yuan; every other kind parses to itself."""
        form = dict(values)
        for field_ in self.inputs:
            if field_.kind == "money" and isinstance(form.get(field_.name), int):
                form[field_.name] = str(Decimal(form[field_.name]) / 100)
        return form

    def input(self, name: str) -> Field | None:
        return next((f for f in self.inputs if f.name == name), None)


REGISTRY: dict[str, Action] = {}


def register(name: str, role: str, on: str | None, **kwargs) -> Callable:
    """Decorator: declare an action whose effect is the decorated function (ctx) -> result."""
    def wrap(effect: Callable) -> Callable:
        if name in REGISTRY:
            raise ValueError(f"action {name} declared twice")
        REGISTRY[name] = Action(name=name, role=role, on=on, effect=effect, **kwargs)
        return effect
    return wrap


def get(name: str) -> Action | None:
    return REGISTRY.get(name)


def actions_for(role: str, mode: str) -> list[Action]:
    return [a for a in REGISTRY.values() if a.role == role and mode in a.modes]


def actions_on(kind: str, state: str, mode: str) -> list[Action]:
    return [a for a in REGISTRY.values()
            if a.on == kind and state in a.sources(mode) and mode in a.modes]


SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
