"""Roles and document kinds, each declared once, as data.

A role spec gives a role's key, its name in a B2C and in a B2B run, and its priority (the order in
which a group hands the roles out). The models (`ROLES`), the labels, group balancing, the
consoles and the instructor's board read it.

A kind spec gives a document kind's model class, number prefix, name, the states a document of
the kind can be in (in the order it goes through them) with the tone of each state's badge, and
the partial that draws the kind's part of the document page. Numbering, badges and document
pages read it; each kind's `data` is read through typed accessors on its class (lab/models).

This module sits at the bottom with lab/errors.py: it imports nothing from the lab, so the
models can read it (the engine reads the models). tests/test_specs.py checks that every role and
kind used anywhere is declared completely here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

MODES = ("b2c", "b2b")

# The badges' tones: one CSS class each in lab/static/lab.css (`.tone-<name>`).
TONES = ("new", "active", "moving", "done", "refused")


@dataclass(frozen=True)
class RoleSpec:
    key: str
    label: Any  # lazy_gettext: the role's name
    b2b_label: Any = None  # its name in a B2B run, when it differs (购货方, 供货方, …)
    # 1 first: the order in which a group hands out its roles (with fewer members than roles,
    # the last ones are doubled up). None: no seat (the instructor acts from the board).
    priority: int | None = None

    @property
    def seat(self) -> bool:
        """A seat in a run: a console, a holder in a group, a lane on the board."""
        return self.priority is not None

    def label_in(self, mode: str = "b2c") -> str:
        if mode == "b2b" and self.b2b_label is not None:
            return str(self.b2b_label)
        return str(self.label)


@dataclass(frozen=True)
class KindSpec:
    key: str
    model: str  # the class mapped to the kind in lab/models (single-table inheritance)
    prefix: str  # of its numbers: SO-0001
    label: Any  # lazy_gettext: the kind's name
    states: dict[str, str]  # state → tone, in the order a document goes through them
    partial: str = ""  # the detail of its page; default _partials/documents/<key>.html

    def __post_init__(self):
        if not self.partial:
            object.__setattr__(self, "partial", f"_partials/documents/{self.key}.html")

    def number(self, n: int) -> str:
        return f"{self.prefix}-{n:04d}"

    def tone(self, state: str) -> str:
        return self.states.get(state, "new")


# ---- roles ----------------------------------------------------------------------------------

ROLE_SPECS: tuple[RoleSpec, ...] = (
    RoleSpec("mall_admin", _l("Mall admin"), priority=7),
    RoleSpec("buyer", _l("Buyer"), _l("Buying company"), priority=1),
    RoleSpec("supplier", _l("Sales department"), _l("Supplying company"), priority=2),
    RoleSpec("warehouse", _l("Warehouse"), _l("Yard manager"), priority=3),
    RoleSpec("finance", _l("Finance department"), priority=4),
    RoleSpec("purchasing", _l("Purchasing department"), priority=6),
    RoleSpec("logistics", _l("Logistics department"), priority=5),
    RoleSpec("instructor", _l("Instructor")),
)

# ---- document kinds -------------------------------------------------------------------------

STATE_LABELS = {
    "placed": _l("placed"), "accepted": _l("accepted"), "contracted": _l("contract issued"),
    "signed": _l("contract signed"), "shipped": _l("shipped"), "delivered": _l("delivered"),
    "received": _l("received"), "in_transit": _l("in transit"), "open": _l("open"),
    "ordered": _l("purchase ordered"), "filled": _l("filled"), "submitted": _l("awaiting approval"),
    "approved": _l("approved"), "rejected": _l("rejected"), "arrived": _l("arrived"),
    "sent": _l("sent"), "quoted": _l("quoted"), "offered": _l("offered"),
    "issued": _l("issued"), "checked": _l("checked"), "requested": _l("requested"),
    "picked_up": _l("picked up"), "refunded": _l("refunded"), "posted": _l("posted"),
    "applied": _l("applied"),
}

KIND_SPECS: tuple[KindSpec, ...] = (
    KindSpec("order", "Order", "SO", _l("Order"), {
        "placed": "new", "accepted": "active", "contracted": "active", "signed": "moving",
        "shipped": "moving", "delivered": "moving", "received": "done"}),
    KindSpec("shipment", "Shipment", "FH", _l("Shipment"), {
        "in_transit": "active", "delivered": "moving"}),
    KindSpec("shortage", "Shortage", "QH", _l("Shortage"), {
        "open": "new", "ordered": "active", "filled": "moving"}),
    KindSpec("purchase_order", "PurchaseOrder", "PO", _l("Purchase order"), {
        "submitted": "new", "approved": "active", "rejected": "refused", "delivered": "moving",
        "received": "done"}),
    KindSpec("inbound", "InboundDelivery", "RK", _l("Inbound delivery"), {
        "arrived": "active", "received": "done"}),
    KindSpec("inquiry", "Inquiry", "XJ", _l("Inquiry"), {"sent": "new", "quoted": "active"}),
    KindSpec("quote", "Quote", "BJ", _l("Quote"), {"offered": "new", "accepted": "active"}),
    KindSpec("contract", "Contract", "HT", _l("Contract"), {
        "issued": "active", "signed": "moving"}),
    KindSpec("payment_reminder", "PaymentReminder", "CK", _l("Payment reminder"), {"sent": "new"}),
    KindSpec("invoice", "Invoice", "FP", _l("Invoice"), {"issued": "active", "checked": "done"}),
    KindSpec("return", "Return", "TH", _l("Return"), {
        "requested": "new", "approved": "active", "rejected": "refused", "picked_up": "active",
        "received": "done", "refunded": "done"}),
    KindSpec("review", "Review", "PJ", _l("Review"), {"posted": "done"}),
    KindSpec("notice", "Notice", "GG", _l("Notice"), {"posted": "done"}),
    KindSpec("membership", "Membership", "HY", _l("Member application"), {
        "applied": "new", "approved": "active"}),
    KindSpec("certificate", "Certificate", "ZS", _l("Certificate"), {
        "requested": "new", "issued": "active"}),
)

# ---- what the rest of the lab reads ---------------------------------------------------------

ROLE = {spec.key: spec for spec in ROLE_SPECS}
KIND = {spec.key: spec for spec in KIND_SPECS}
# The roles that hold seats, in the order consoles and boards list them.
ROLES: tuple[str, ...] = tuple(spec.key for spec in ROLE_SPECS if spec.seat)
# The order in which a group hands its roles out (lab/classroom/groups.py).
ROLE_PRIORITY: tuple[str, ...] = tuple(
    spec.key for spec in sorted((s for s in ROLE_SPECS if s.seat), key=lambda s: s.priority))
PREFIX = {spec.key: spec.prefix for spec in KIND_SPECS}


def role_label(role: str, mode: str = "b2c") -> str:
    spec = ROLE.get(role)
    return spec.label_in(mode) if spec is not None else str(role)


def check_state(kind: str, state: str) -> None:
    """A document may only be put in a state its kind declares (so it has a label and a badge):
    a programming error otherwise, caught by the tests that play every action."""
    spec = KIND.get(kind)
    if spec is None or state not in spec.states:
        raise ValueError(f"state {state!r} is not declared for document kind {kind!r} "
                         "in lab/specs.py")


__all__ = ["MODES", "TONES", "RoleSpec", "KindSpec", "ROLE_SPECS", "KIND_SPECS", "STATE_LABELS",
           "ROLE", "KIND", "ROLES", "ROLE_PRIORITY", "PREFIX", "role_label", "check_state"]
