"""Roles and document kinds are declared once (lab/specs.py), and completely: a role or a kind
that is used somewhere but declared in part fails here, instead of a page failing at run time
(a kind without a prefix was a 500, a state without a badge colour an invisible badge, a role
without a priority silently always a bot).

`problems(roles, kinds)` lists what is missing; the shipped specs have nothing missing, and
specs with a piece taken out are caught."""
import ast
import dataclasses
import importlib
import re
from pathlib import Path

import pytest
import yaml
from flask import render_template
from flask_babel import force_locale

from lab import specs
from lab.engine import Actor, perform, registry
from lab.extensions import db
from lab.models import Document
from lab.models.document import data_fields
from lab.specs import KIND_SPECS, ROLE_SPECS, TONES, RoleSpec
from tests.helpers import act, doc, login, make_user, play, start_run

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
CSS = (ROOT / "lab" / "static" / "lab.css").read_text(encoding="utf-8")
SCENARIO_FILES = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "scenarios" / "valid").glob("*.yaml"))
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


# ---- where roles and kinds are used -------------------------------------------------------

def roles_in_scenarios() -> dict[str, str]:
    """role → a scenario file that names it (roles, bots, script steps)."""
    used = {}
    for path in SCENARIO_FILES:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            continue
        named = list(data.get("roles") or []) + list(data.get("bots") or [])
        named += [step.get("role") for step in data.get("script") or [] if isinstance(step, dict)]
        for role in named:
            if isinstance(role, str):
                used.setdefault(role, path.name)
    return used


def console_modules() -> dict[str, str]:
    """role → module, for every module of roles/ that declares a console."""
    found = {}
    for path in sorted((ROOT / "roles").glob("[!_]*.py")):
        module = importlib.import_module(f"roles.{path.stem}")
        console = getattr(module, "console", None)
        if console is not None:
            found[console.role] = path.stem
    return found


def states_the_engine_sets() -> dict[str, set[str]]:
    """kind → every state an action names for it: where it starts (new_document's state, read
    from the actions' source), and the registry's from-, to- and also-states."""
    states: dict[str, set[str]] = {}
    for action in registry.REGISTRY.values():
        if action.on:
            for mode in action.modes:
                states.setdefault(action.on, set()).update(action.sources(mode))
                states[action.on].update(action.plan_sources(mode))
            if action.to_state:
                states[action.on].add(action.to_state)
        if action.also:
            kind, sources, to_state = action.also
            states.setdefault(kind, set()).update((*sources, to_state))
    models = {mapper.class_.__name__: kind
              for kind, mapper in Document.__mapper__.polymorphic_map.items()}
    for path in sorted((ROOT / "lab" / "engine" / "actions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "new_document" and node.args
                    and isinstance(node.args[0], ast.Name)):
                for keyword in node.keywords:
                    if keyword.arg == "state" and isinstance(keyword.value, ast.Constant):
                        kind = models.get(node.args[0].id, node.args[0].id)
                        states.setdefault(kind, set()).add(keyword.value.value)
    return states


# ---- what a complete spec is ----------------------------------------------------------------

def problems(roles=ROLE_SPECS, kinds=KIND_SPECS) -> list[str]:
    found = []
    by_role = {spec.key: spec for spec in roles}
    by_kind = {spec.key: spec for spec in kinds}
    if len(by_role) != len(roles) or len(by_kind) != len(kinds):
        found.append("a role or a kind is declared twice")

    # Roles: every one used anywhere is declared; seats have a priority and a console.
    used = {a.role: f"action {a.name}" for a in registry.REGISTRY.values()}
    used.update({r: f"scenario {f}" for r, f in roles_in_scenarios().items()})
    consoles = console_modules()
    used.update({r: f"console roles/{m}.py" for r, m in consoles.items()})
    for role, where in sorted(used.items()):
        if role not in by_role:
            found.append(f"role {role} ({where}) has no spec")
    for role, where in sorted({**roles_in_scenarios(), **consoles}.items()):
        if role in by_role and not by_role[role].seat:
            found.append(f"role {role} ({where}) holds a seat but has no priority")
    priorities = [spec.priority for spec in roles if spec.seat]
    if len(set(priorities)) != len(priorities):
        found.append(f"two roles share a priority: {sorted(priorities)}")
    for spec in roles:
        if not SLUG.match(spec.key):
            found.append(f"role {spec.key!r}: the key is no slug")
        if not str(spec.label).strip() or (spec.b2b_label is not None
                                           and not str(spec.b2b_label).strip()):
            found.append(f"role {spec.key}: no label")
        if spec.seat:
            if spec.key not in consoles:
                found.append(f"role {spec.key}: no console (roles/{spec.key}.py)")
            elif consoles[spec.key] != spec.key:
                found.append(f"role {spec.key}: its console is roles/{consoles[spec.key]}.py, "
                             f"not roles/{spec.key}.py")
            if not (TEMPLATES / "roles" / "panels" / f"{spec.key}.html").is_file():
                found.append(f"role {spec.key}: no panels (templates/roles/panels/"
                             f"{spec.key}.html)")

    # Kinds: every mapped class and every kind an action names is declared, completely.
    mapped = {kind: mapper.class_.__name__
              for kind, mapper in Document.__mapper__.polymorphic_map.items()
              if kind != "document"}
    engine_states = states_the_engine_sets()
    for kind in sorted(set(mapped) | set(engine_states)):
        if kind not in by_kind:
            found.append(f"kind {kind} has no spec")
    prefixes = [spec.prefix for spec in kinds]
    if len(set(prefixes)) != len(prefixes):
        found.append(f"two kinds share a prefix: {sorted(prefixes)}")
    for spec in kinds:
        if mapped.get(spec.key) != spec.model:
            found.append(f"kind {spec.key}: its model {spec.model!r} is not the class mapped "
                         f"to it ({mapped.get(spec.key)!r})")
        if not re.fullmatch(r"[A-Z]{2,4}", spec.prefix or ""):
            found.append(f"kind {spec.key}: no number prefix (two to four capitals)")
        if not str(spec.label or "").strip():
            found.append(f"kind {spec.key}: no label")
        if not spec.states:
            found.append(f"kind {spec.key}: no states")
        for state in sorted(engine_states.get(spec.key, set()) - set(spec.states)):
            found.append(f"kind {spec.key}: the engine puts it in state {state}, which it does "
                         "not declare")
        for state, tone in spec.states.items():
            if tone not in TONES:
                found.append(f"kind {spec.key}: state {state} has no tone ({tone!r})")
            if state not in specs.STATE_LABELS:
                found.append(f"kind {spec.key}: state {state} has no label")
        if not (TEMPLATES / spec.partial).is_file():
            found.append(f"kind {spec.key}: no detail partial (templates/{spec.partial})")
    for tone in TONES:
        if not re.search(rf"\.tone-{tone}\s*\{{[^}}]*background", CSS):
            found.append(f"tone {tone}: no colour in lab/static/lab.css")
    return found


def test_the_specs_import_nothing_from_the_lab():
    """lab/specs.py sits at the bottom (the models read it, and the engine reads the models)."""
    tree = ast.parse((ROOT / "lab" / "specs.py").read_text(encoding="utf-8"))
    imported = [node.module or "." for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and (node.level or
                                                         (node.module or "").startswith("lab"))]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names if alias.name.startswith("lab")]
    assert imported == []


def test_the_shipped_roles_and_kinds_are_complete():
    assert problems() == []


def without(specs_, key):
    return tuple(spec for spec in specs_ if spec.key != key)


def replaced(specs_, key, **changes):
    return tuple(dataclasses.replace(spec, **changes) if spec.key == key else spec
                 for spec in specs_)


@pytest.mark.parametrize("roles, kinds, expected", [
    (without(ROLE_SPECS, "logistics"), KIND_SPECS, "role logistics ("),
    (replaced(ROLE_SPECS, "purchasing", priority=None), KIND_SPECS,
     "holds a seat but has no priority"),
    (replaced(ROLE_SPECS, "finance", priority=1), KIND_SPECS, "two roles share a priority"),
    (ROLE_SPECS + (RoleSpec("auditor", "Auditor", priority=8),), KIND_SPECS,
     "role auditor: no console (roles/auditor.py)"),
    (ROLE_SPECS, without(KIND_SPECS, "shortage"), "kind shortage has no spec"),
    (ROLE_SPECS, replaced(KIND_SPECS, "invoice", prefix=""), "kind invoice: no number prefix"),
    (ROLE_SPECS, replaced(KIND_SPECS, "quote", prefix="SO"), "two kinds share a prefix"),
    (ROLE_SPECS, replaced(KIND_SPECS, "return", states={"requested": "new", "approved": "active"}),
     "kind return: the engine puts it in state picked_up"),
    (ROLE_SPECS, replaced(KIND_SPECS, "order", states={**specs.KIND["order"].states,
                                                       "shipped": "purple"}),
     "kind order: state shipped has no tone"),
    (ROLE_SPECS, replaced(KIND_SPECS, "notice", partial="_partials/documents/gone.html"),
     "kind notice: no detail partial"),
    (ROLE_SPECS, replaced(KIND_SPECS, "review", model="Notice"), "kind review: its model"),
])
def test_an_incomplete_spec_is_caught(roles, kinds, expected):
    found = problems(roles, kinds)
    assert any(expected in p for p in found), found


def test_the_lab_reads_roles_and_kinds_from_the_specs():
    from lab.classroom.groups import ROLE_PRIORITY
    from lab.engine.labels import KIND_LABELS, ROLE_LABELS, STATE_LABELS
    from lab.models.document import PREFIX
    from lab.models.run import ROLES
    from roles import CONSOLE_MODULES
    seats = [spec for spec in ROLE_SPECS if spec.seat]
    assert ROLES == tuple(spec.key for spec in seats)
    assert ROLE_PRIORITY == tuple(s.key for s in sorted(seats, key=lambda s: s.priority))
    assert [m.console.role for m in CONSOLE_MODULES] == list(ROLES)
    assert set(ROLE_LABELS) == {spec.key for spec in ROLE_SPECS}
    assert set(KIND_LABELS) == set(PREFIX) == {spec.key for spec in KIND_SPECS}
    assert {s for spec in KIND_SPECS for s in spec.states} == set(STATE_LABELS)
    board = (TEMPLATES / "classroom" / "_board_rows.html").read_text(encoding="utf-8")
    assert not [role for role in ROLES if f"'{role}'" in board], "a role list in the board"


def test_every_label_reads_in_both_languages(app):
    for lang in ("en", "zh"):
        with force_locale(lang):
            for spec in ROLE_SPECS:
                for mode in specs.MODES:
                    assert spec.label_in(mode).strip(), (spec.key, mode, lang)
            for spec in KIND_SPECS:
                assert str(spec.label).strip(), (spec.key, lang)
            for state, label in specs.STATE_LABELS.items():
                assert str(label).strip(), (state, lang)


@pytest.mark.parametrize("spec", KIND_SPECS, ids=lambda spec: spec.key)
def test_every_kinds_page_draws_in_every_state(app, spec):
    """The document page's detail partial of each kind renders (with no data at all), and its
    badge carries the state's tone."""
    cls = Document.__mapper__.polymorphic_map[spec.key].class_
    for state in spec.states:
        document = cls(kind=spec.key, number=spec.number(1), state=state, data={})
        with app.test_request_context("/"):
            html = render_template(spec.partial, doc=document, seller=None, buyer=None,
                                   verified=False)
            badge = render_template_string_badge(document)
        assert 'id="lines"' in html or "<dl" in html, html
        assert f"tone-{spec.tone(state)}" in badge and spec.tone(state) in TONES


def render_template_string_badge(document) -> str:
    from flask import render_template_string
    return render_template_string('{% from "_macros/lab.html" import state_badge with context %}'
                                  '{{ state_badge(doc) }}', doc=document)


def test_the_engine_refuses_a_state_a_kind_does_not_declare(app):
    """A state put on a document is one its kind declares (else it would have no label and no
    badge): a programming error, stopped before anything is written."""
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 1}],
        payment="bank_transfer")
    name = "test_specs_undeclared_state"

    @registry.register(name, "supplier", "order", from_states=("placed",), to_state="lost")
    def effect(ctx):
        return {}
    try:
        with pytest.raises(ValueError, match="not declared for document kind 'order'"):
            perform(run.id, Actor("supplier", "system"), name, doc(run, "order"), {})
    finally:
        registry.REGISTRY.pop(name)
    db.session.rollback()
    assert doc(run, "order").state == "placed"


def test_perform_applies_also(app):
    """`also=` is applied by perform(): an action whose effect does nothing still moves the
    document its own document came from (here the shipment's order)."""
    run = start_run("b2c-normal")
    act(run, "buyer", "place_order", lines=[{"sku": "TEA-250", "qty": 1}],
        payment="bank_transfer")
    order = doc(run, "order")
    for role, action in (("supplier", "accept_order"), ("buyer", "pay_order"),
                         ("finance", "confirm_payment"), ("warehouse", "ship_order")):
        act(run, role, action, order)
    name = "test_specs_deliver_quietly"

    @registry.register(name, "logistics", "shipment", from_states=("in_transit",),
                       to_state="delivered", also=("order", ("shipped",), "delivered"))
    def effect(ctx):
        return {}
    try:
        perform(run.id, Actor("logistics", "system"), name, doc(run, "shipment"), {})
    finally:
        registry.REGISTRY.pop(name)
    db.session.expire_all()
    assert (doc(run, "shipment").state, doc(run, "order").state) == ("delivered", "delivered")


def test_every_data_key_the_engine_writes_has_a_typed_accessor():
    """Read from the actions' source: new_document(Cls, data={...}) keys are accessors of Cls,
    and set_data(doc, key=...) keys are accessors of some document class."""
    classes = {mapper.class_.__name__: mapper.class_
               for mapper in Document.__mapper__.polymorphic_map.values()}
    anywhere = set().union(*(data_fields(cls) for cls in classes.values()))
    missing = []
    for path in sorted((ROOT / "lab" / "engine" / "actions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr == "set_data":
                missing += [f"{path.name}: set_data {k.arg}" for k in node.keywords
                            if k.arg and k.arg not in anywhere]
            elif node.func.attr == "new_document" and node.args and \
                    isinstance(node.args[0], ast.Name):
                cls = classes[node.args[0].id]
                for keyword in node.keywords:
                    if keyword.arg == "data" and isinstance(keyword.value, ast.Dict):
                        missing += [f"{path.name}: {cls.__name__} data {k.value}"
                                    for k in keyword.value.keys
                                    if isinstance(k, ast.Constant)
                                    and k.value not in data_fields(cls)]
    assert missing == []


@pytest.mark.parametrize("slug", ["b2b-normal", "b2c-return", "b2c-out-of-stock", "b2b-rfq"])
def test_every_data_key_has_a_typed_accessor_and_every_page_draws(app, slug):
    """Played to the end, every document's `data` key is read through a typed accessor of its
    class (lab/models: DataField), and its page answers."""
    user = make_user("everyone")
    run = play(start_run(slug, seats={role: [user.id] for role in specs.ROLES}))
    client = login(app.test_client(), "everyone")
    documents = list(db.session.scalars(db.select(Document).where(Document.run_id == run.id)))
    assert documents
    for document in documents:
        untyped = set(document.data or {}) - data_fields(type(document))
        assert not untyped, f"{document.number}: data {sorted(untyped)} has no accessor"
        for role in sorted({a.role for a in registry.REGISTRY.values()
                            if a.on == document.kind and a.role in specs.ROLES} or {"buyer"}):
            page = client.get(f"/run/{run.id}/{role}/doc/{document.id}")
            assert page.status_code == 200, (document.number, role)
            assert f"tone-{document.tone}" in page.get_data(as_text=True)
