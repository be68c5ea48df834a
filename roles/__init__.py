"""The role consoles, one blueprint each (url: /run/<run_id>/<role>/…): one module per seat role
of lab/specs.py, named after it (roles/<role>.py, with its panels in
templates/roles/panels/<role>.html).

Each console is a thin layer over the engine: the common part (inbox, action endpoint, document
view, history, live fragment) comes from roles.common; each module adds its department's panels."""
from importlib import import_module

from lab.specs import ROLES

CONSOLE_MODULES = tuple(import_module(f"{__name__}.{role}") for role in ROLES)


def register_consoles(app) -> None:
    for module in CONSOLE_MODULES:
        app.register_blueprint(module.console.bp)
    # The consoles a page may link to (the instructor's board), in the specs' order.
    app.add_template_global(ROLES, "console_roles")
