"""Scenario files, format 1 (SCENARIO_FORMAT.md): parse, validate whole, and describe the steps.

validate() returns every problem at once, each naming the step (id or position) and the field;
load() returns a Scenario or raises ScenarioError carrying that list."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from .engine import registry
from .errors import DomainError
from .models.run import ROLES

CASE_KINDLESS = {"membership", "certificate"}
WORKFLOW_KEYS = {"accept_order", "finance_review"}
COMPARISON = re.compile(r"^\s*(>=|<=|>|<|==|!=)\s*(-?\d+(?:\.\d+)?)\s*$")
DEFAULT_BALANCE = 100_000.00  # buyer and company, when the file gives none


@dataclass
class Problem:
    where: str  # "step 'po' (#3)", "world.products[1]", "file"
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}" if self.field else \
            f"{self.where}: {self.message}"


class ScenarioError(DomainError):
    status = 400

    def __init__(self, problems: list[Problem], filename: str = ""):
        super().__init__("invalid scenario")
        self.problems = problems
        self.filename = filename

    def lines(self) -> list[str]:
        prefix = f"{self.filename}: " if self.filename else ""
        return [prefix + str(p) for p in self.problems]

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class Step:
    index: int  # 0-based position in the script
    id: str
    role: str
    action: str
    params: dict = field(default_factory=dict)
    by: str | None = None
    hint: object = None
    points: float = 0
    case: str | None = None  # id of the case-starting step, None for steps outside any case
    after: list[str] | None = None  # explicit dependencies
    deps: list[str] = field(default_factory=list)  # resolved dependencies
    at_minute: float | None = None
    check: dict = field(default_factory=dict)

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def starts_case(self) -> bool:
        return registry.get(self.action).starts_case


@dataclass
class Scenario:
    id: str
    title: object
    mode: str
    summary: object
    objectives: list
    time_limit_minutes: float | None
    roles: list[str]
    bots: list[str]
    world: dict
    steps: list[Step]
    mistake_penalty: float
    late_penalty_per_minute: float
    text: str = ""

    @property
    def max_score(self) -> float:
        return sum(s.points for s in self.steps)

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def workflow(self) -> dict:
        return dict(self.world.get("workflow") or {})


def action_in_case(action: registry.Action) -> bool:
    return action.starts_case or (action.on is not None and action.on not in CASE_KINDLESS)


# ---- validation -----------------------------------------------------------------------------

class _Checker:
    def __init__(self):
        self.problems: list[Problem] = []

    def add(self, where, fld, message):
        self.problems.append(Problem(where, fld, message))

    def text(self, value, where, fld, required=True) -> None:
        if value is None:
            if required:
                self.add(where, fld, "is missing")
            return
        if isinstance(value, str):
            if required and not value.strip():
                self.add(where, fld, "is empty")
            return
        if isinstance(value, dict):
            bad = [k for k in value if k not in ("en", "zh")]
            if bad:
                self.add(where, fld, f"unknown language {bad[0]!r} (use en and zh)")
            if not any(isinstance(v, str) and v.strip() for v in value.values()):
                self.add(where, fld, "needs a text in en or zh")
            return
        self.add(where, fld, "must be a text or a mapping {en: ..., zh: ...}")

    def number(self, value, where, fld, minimum=0.0, integer=False) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.add(where, fld, "must be a number")
            return False
        if integer and int(value) != value:
            self.add(where, fld, "must be a whole number")
            return False
        if value < minimum:
            self.add(where, fld, f"must not be below {minimum:g}" if minimum else
                     "must not be negative")
            return False
        return True


def parse_yaml(text: str) -> tuple[object, list[Problem]]:
    try:
        return yaml.safe_load(text), []
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and start is not None:
            problem = f"{problem} ({context} that starts at line {start.line + 1})"
        return None, [Problem(where, "", f"YAML syntax error: {problem}")]


def validate(text: str) -> tuple[Scenario | None, list[Problem]]:
    data, problems = parse_yaml(text)
    if problems:
        return None, problems
    c = _Checker()
    if not isinstance(data, dict):
        c.add("file", "", "must be a YAML mapping (format, id, title, mode, world, script, …)")
        return None, c.problems
    known_top = {"format", "id", "title", "mode", "summary", "objectives", "time_limit_minutes",
                 "roles", "bots", "world", "script", "scoring"}
    for key in data:
        if key not in known_top:
            c.add("file", str(key), "unknown field")
    if data.get("format") != 1:
        c.add("file", "format", f"must be 1 (got {data.get('format')!r})")
    slug = data.get("id")
    if not isinstance(slug, str) or not registry.SLUG.match(slug):
        c.add("file", "id", "must be a slug such as b2c-out-of-stock")
    c.text(data.get("title"), "file", "title")
    mode = data.get("mode")
    if mode not in ("b2c", "b2b"):
        c.add("file", "mode", f"must be b2c or b2b (got {mode!r})")
        mode = "b2c"
    c.text(data.get("summary"), "file", "summary", required=False)
    objectives = data.get("objectives") or []
    if not isinstance(objectives, list):
        c.add("file", "objectives", "must be a list")
        objectives = []
    for i, obj in enumerate(objectives):
        c.text(obj, f"objectives[{i + 1}]", "", required=True)
    limit = data.get("time_limit_minutes")
    if limit is not None:
        c.number(limit, "file", "time_limit_minutes", minimum=1)
    roles = _role_list(c, data.get("roles"), "roles", required=True)
    bots = _role_list(c, data.get("bots"), "bots", required=False)
    world = data.get("world")
    if not isinstance(world, dict):
        c.add("file", "world", "is missing (company, buyer, products, …)")
        world = {}
    skus, vendors = _check_world(c, world)
    steps = _check_script(c, data.get("script"), mode, skus, vendors)
    scoring = data.get("scoring") or {}
    if not isinstance(scoring, dict):
        c.add("file", "scoring", "must be a mapping")
        scoring = {}
    for key in scoring:
        if key not in ("mistake_penalty", "late_penalty_per_minute"):
            c.add("scoring", str(key), "unknown field")
        else:
            c.number(scoring[key], "scoring", key)
    if c.problems:
        return None, c.problems
    return Scenario(id=slug, title=data["title"], mode=mode, summary=data.get("summary"),
                    objectives=objectives, time_limit_minutes=limit, roles=roles, bots=bots,
                    world=world, steps=steps,
                    mistake_penalty=float(scoring.get("mistake_penalty", 0) or 0),
                    late_penalty_per_minute=float(scoring.get("late_penalty_per_minute", 0) or 0),
                    text=text), []


def load(text: str, filename: str = "") -> Scenario:
    scenario, problems = validate(text)
    if problems:
        raise ScenarioError(problems, filename)
    return scenario


def _role_list(c, value, fld, required):
    if value is None:
        if required:
            c.add("file", fld, "is missing (a list of roles)")
        return []
    if not isinstance(value, list):
        c.add("file", fld, "must be a list of roles")
        return []
    for role in value:
        if role not in ROLES:
            c.add("file", fld, f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    return [r for r in value if r in ROLES]


def _check_world(c, world) -> tuple[set[str], set[str]]:
    for key in world:
        if key not in ("company", "buyer", "vendors", "products", "accounts", "workflow"):
            c.add("world", str(key), "unknown field")
    for party in ("company", "buyer"):
        value = world.get(party)
        if not isinstance(value, dict):
            c.add("world", party, "is missing (with a name)")
        else:
            c.text(value.get("name"), f"world.{party}", "name")
    vendors: set[str] = set()
    for i, vendor in enumerate(world.get("vendors") or []):
        where = f"world.vendors[{i + 1}]"
        if not isinstance(vendor, dict):
            c.add(where, "", "must be a mapping {key, name}")
            continue
        key = vendor.get("key")
        if not isinstance(key, str) or not registry.SLUG.match(key):
            c.add(where, "key", "must be a slug such as west-lake-farm")
        elif key in vendors:
            c.add(where, "key", f"duplicate vendor {key!r}")
        else:
            vendors.add(key)
        c.text(vendor.get("name"), where, "name")
    skus: set[str] = set()
    products = world.get("products") or []
    if not isinstance(products, list):
        c.add("world", "products", "must be a list")
        products = []
    for i, product in enumerate(products):
        where = f"world.products[{i + 1}]"
        if not isinstance(product, dict):
            c.add(where, "", "must be a mapping {sku, name, price, stock, …}")
            continue
        sku = product.get("sku")
        if not isinstance(sku, (str, int)) or not str(sku).strip():
            c.add(where, "sku", "is missing")
        elif str(sku) in skus:
            c.add(where, "sku", f"duplicate sku {sku!r}")
        else:
            skus.add(str(sku))
        c.text(product.get("name"), where, "name")
        if "price" not in product:
            c.add(where, "price", "is missing")
        else:
            c.number(product["price"], where, "price")
        if "cost" in product:
            c.number(product["cost"], where, "cost")
        c.number(product.get("stock", 0), where, "stock", integer=True)
        vendor = product.get("vendor")
        if vendor is not None and vendor not in vendors:
            c.add(where, "vendor", f"unknown vendor {vendor!r}")
    accounts = world.get("accounts") or {}
    if not isinstance(accounts, dict):
        c.add("world", "accounts", "must be a mapping of party to balance")
        accounts = {}
    for key, balance in accounts.items():
        if key not in ("buyer", "company") and key not in vendors:
            c.add("world.accounts", str(key), "unknown party (buyer, company or a vendor key)")
        c.number(balance, "world.accounts", str(key))
    workflow = world.get("workflow") or {}
    if not isinstance(workflow, dict):
        c.add("world", "workflow", "must be a mapping")
        workflow = {}
    for key, value in workflow.items():
        if key not in WORKFLOW_KEYS:
            c.add("world.workflow", str(key), f"unknown step (steps: {', '.join(sorted(WORKFLOW_KEYS))})")
        elif not isinstance(value, bool):
            c.add("world.workflow", str(key), "must be true or false")
    return skus, vendors


STEP_FIELDS = {"id", "role", "action", "with", "by", "hint", "points", "case", "after",
               "at_minute", "check"}


def _check_script(c, script, mode, skus, vendors) -> list[Step]:
    if not isinstance(script, list) or not script:
        c.add("file", "script", "is missing or empty (a list of steps)")
        return []
    steps: list[Step] = []
    ids: set[str] = set()
    skus = set(skus)
    for index, raw in enumerate(script):
        where = f"step #{index + 1}"
        if not isinstance(raw, dict):
            c.add(where, "", "must be a mapping {id, role, action, …}")
            continue
        step_id = raw.get("id")
        if isinstance(step_id, (int, float)) and not isinstance(step_id, bool):
            step_id = str(step_id)
        if not isinstance(step_id, str) or not step_id.strip():
            c.add(where, "id", "is missing")
            step_id = f"#{index + 1}"
        else:
            where = f"step '{step_id}' (#{index + 1})"
            if step_id in ids:
                c.add(where, "id", "duplicate step id")
        ids.add(step_id)
        for key in raw:
            if key not in STEP_FIELDS:
                c.add(where, str(key), "unknown field")
        role, name = raw.get("role"), raw.get("action")
        action = registry.get(name) if isinstance(name, str) else None
        if role not in ROLES:
            c.add(where, "role", f"unknown role {role!r}")
        if action is None:
            c.add(where, "action", f"unknown action {name!r}")
        elif role in ROLES and action.role != role:
            c.add(where, "action", f"{name} is done by {action.role}, not by {role}")
        elif mode not in action.modes:
            c.add(where, "action", f"{name} is not part of a {mode} scenario")
        params = raw.get("with") or {}
        if not isinstance(params, dict):
            c.add(where, "with", "must be a mapping")
            params = {}
        if action is not None:
            _check_params(c, where, action, params, skus, vendors)
            if name == "publish_product" and isinstance(params.get("sku"), (str, int)):
                skus.add(str(params["sku"]))
        by = raw.get("by")
        if by not in (None, "bot", "student"):
            c.add(where, "by", "must be bot (or left out)")
        c.text(raw.get("hint"), where, "hint", required=False)
        points = raw.get("points", 0)
        c.number(points, where, "points")
        at_minute = raw.get("at_minute")
        if at_minute is not None:
            c.number(at_minute, where, "at_minute")
        check = raw.get("check") or {}
        if not isinstance(check, dict):
            c.add(where, "check", "must be a mapping of field to value")
            check = {}
        for key, value in check.items():
            if isinstance(value, str) and value.strip()[:1] in "<>=!" and \
                    not COMPARISON.match(value):
                c.add(where, f"check.{key}", f"bad comparison {value!r} (use \">=20\", \"<5\", …)")
        after = raw.get("after")
        if after is not None:
            if isinstance(after, str):
                after = [after]
            if not isinstance(after, list):
                c.add(where, "after", "must be a list of step ids")
                after = None
            else:
                after = [str(a) for a in after]
                for dep in after:
                    if dep not in ids or dep == step_id:
                        c.add(where, "after", f"names no earlier step {dep!r}")
        steps.append(Step(index=index, id=step_id, role=role, action=name or "", params=params,
                          by=by, hint=raw.get("hint"),
                          points=points if isinstance(points, (int, float)) else 0,
                          case=raw.get("case"), after=after, at_minute=at_minute,
                          check=check))
    _resolve_cases(c, steps)
    return steps


def _check_params(c, where, action, params, skus, vendors) -> None:
    for key, value in params.items():
        spec = action.input(key)
        if spec is None:
            c.add(where, f"with.{key}", f"{action.name} takes no {key!r} "
                  f"(it takes: {', '.join(f.name for f in action.inputs) or 'nothing'})")
            continue
        try:
            parsed = spec.parse(value)
        except DomainError as error:
            c.add(where, f"with.{key}", _plain(error))
            continue
        if spec.kind == "lines":
            for line in parsed or []:
                if line["sku"] not in skus:
                    c.add(where, f"with.{key}", f"unknown sku {line['sku']!r}")
        elif key == "sku" and action.name != "publish_product" and str(parsed) not in skus:
            c.add(where, f"with.{key}", f"unknown sku {parsed!r}")
        elif spec.kind == "vendor" and parsed and parsed.removeprefix("vendor:") not in vendors:
            c.add(where, f"with.{key}", f"unknown vendor {parsed!r}")
    missing = [f.name for f in action.inputs if f.required and f.name not in params
               and f.kind not in ("password",)]
    if action.on is None and missing:
        c.add(where, "with", f"{action.name} needs {', '.join(missing)}")


def _plain(error: DomainError) -> str:
    args = dict(error.args_)
    return error.msg % args if args else error.msg


def _resolve_cases(c, steps: list[Step]) -> None:
    """Fill in each step's case and its dependencies (SCENARIO_FORMAT.md, Steps)."""
    starters = {s.id for s in steps if registry.get(s.action) and s.starts_case}
    current = None
    previous_in: dict[str | None, str] = {}
    for step in steps:
        action = registry.get(step.action)
        if action is None:
            continue
        where = f"step '{step.id}' (#{step.number})"
        if action.starts_case:
            if step.case not in (None, step.id):
                c.add(where, "case", "a step that starts a case cannot belong to another")
            step.case = step.id
            current = step.id
        elif not action_in_case(action):
            if step.case is not None:
                c.add(where, "case", f"{step.action} belongs to no case")
            step.case = None
        elif step.case is not None:
            if step.case not in starters:
                c.add(where, "case", f"names no case-starting step {step.case!r}")
                continue
            if steps.index(step) < next(i for i, s in enumerate(steps) if s.id == step.case):
                c.add(where, "case", f"case {step.case!r} starts after this step")
        else:
            if current is None:
                c.add(where, "case", "no order or inquiry is started before this step")
                continue
            step.case = current
        if step.after is not None:
            step.deps = list(step.after)
        elif not action.starts_case and step.case in previous_in:
            step.deps = [previous_in[step.case]]
        previous_in[step.case] = step.id


def load_file(path) -> Scenario:
    from pathlib import Path
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError([Problem("file", "", f"cannot read it: {error}")], str(path))
    return load(text, str(path))
