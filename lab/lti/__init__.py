"""LTI 1.3 (issue 12 item 2, first slice): the lab as a tool a learning platform (Moodle, Canvas,
…) launches. /lti/login (OIDC login initiation), /lti/launch (a validated resource-link launch
logs the platform's user into their lab account, made at the first launch), /lti/jwks (the lab's
public keys), and the admin's page registering platforms (/lti/platforms).

launch.py holds the launch routes, admin.py the admin's page; tool.py fits pylti1p3 to the lab
(what is checked, and where the state and the nonce live), keys.py the lab's key pair,
platforms.py the registrations, accounts.py the accounts of the platform's users. Deep linking,
names and roles, and grade passback are later slices: LabRegistration already carries the
lab's key and the platform's token URL they need."""
from flask import Blueprint

bp = Blueprint("lti", __name__, url_prefix="/lti")

from . import admin, launch  # noqa: E402,F401  (the routes)

__all__ = ["bp"]
