"""The seven role consoles, one blueprint each (url: /run/<run_id>/<role>/…).

Each console is a thin layer over the engine: the common part (inbox, action endpoint, document
view, history, live fragment) comes from roles.common; each module adds its department's panels."""
from . import buyer, finance, logistics, mall_admin, purchasing, supplier, warehouse

CONSOLE_MODULES = (mall_admin, buyer, supplier, warehouse, finance, purchasing, logistics)


def register_consoles(app) -> None:
    for module in CONSOLE_MODULES:
        app.register_blueprint(module.console.bp)
