"""Names shown to people: roles (with the Chinese terms of DESIGN.md), document kinds, states,
payment methods. All translatable; the zh catalog holds the coursework's own words. Roles, kinds
and states are declared in lab/specs.py; the dicts here are read from it."""
from flask_babel import gettext, lazy_gettext as _l

from .. import errors
from ..i18n import money, text
from ..specs import KIND_SPECS, ROLE_SPECS, STATE_LABELS, role_label  # noqa: F401
from . import registry

ROLE_LABELS = {spec.key: spec.label for spec in ROLE_SPECS}
# In the B2B marketplace the buyer and supplier are companies (购货方 / 供货方).
B2B_ROLE_LABELS = {spec.key: spec.b2b_label for spec in ROLE_SPECS if spec.b2b_label is not None}

KIND_LABELS = {spec.key: spec.label for spec in KIND_SPECS}

RUN_STATUS_LABELS = {
    "ready": _l("ready"), "running": _l("running"), "paused": _l("paused"),
    "finished": _l("finished"), "archived": _l("archived (before a reset)"),
}

PAYMENT_LABELS = {
    "unpaid": _l("unpaid"), "paid": _l("paid"), "confirmed": _l("payment confirmed"),
    "refunded": _l("refunded"),
}

MOVE_LABELS = {
    "opening": _l("opening stock"), "publish": _l("published"), "ship": _l("shipped out"),
    "inbound": _l("received in"), "return": _l("return in"), "loss": _l("stock loss"),
}

METHOD_LABELS = {
    "bank_transfer": _l("Bank transfer"), "escrow": _l("Third-party escrow"),
    "cash_on_delivery": _l("Cash on delivery"),
}

FIELD_LABELS = {
    "qty": _l("Quantity"), "lines": _l("Products"), "payment": _l("Payment method"),
    "reason": _l("Reason"), "vendor": _l("Vendor"), "price": _l("Price"), "sku": _l("SKU"),
    "name": _l("Name"), "stock": _l("Stock"), "title": _l("Title"), "body": _l("Text"),
    "rating": _l("Rating"), "text": _l("Review"), "password": _l("Certificate password"),
    "delivery_date": _l("Delivery date"), "cost": _l("Cost"),
}


VERDICT_LABELS = {"done": _l("done"), "skipped": _l("skipped")}


def action_label(name: str) -> str:
    action = registry.get(name)
    return str(action.label) if action and action.label else name


def translate_arg(key: str, value):
    """Arguments of stored messages that are names get translated when shown: role, action,
    state… keys, names stored as their {en, zh} mapping, money stored as {"cents": n}, and
    who did something ({"bot": role} or {"role": role})."""
    if isinstance(value, dict):
        if "msg" in value:  # a stored message inside another (why a step was passed over)
            return errors.render(value)
        if "cents" in value:
            return money(value["cents"])
        if "choice" in value:  # a choice input's value: its label (a payment method…)
            return str(METHOD_LABELS.get(value["choice"], value["choice"]))
        if "bot" in value:
            return gettext("%(role)s (bot)", role=role_label(value["bot"]))
        if "role" in value:
            return role_label(value["role"])
        return text(value)
    if key in ("role", "first_role"):
        return role_label(value)
    if key in ("action", "first"):
        return action_label(value)
    if key == "status":
        return str(RUN_STATUS_LABELS.get(value, value))
    if key == "state":
        return str(STATE_LABELS.get(value, value))
    if key == "kind":
        return str(KIND_LABELS.get(value, value))
    if key == "field":
        return str(FIELD_LABELS.get(value, value))
    if key == "verdict":
        return str(VERDICT_LABELS.get(value, value))
    return value


errors.use_translator(translate_arg)
