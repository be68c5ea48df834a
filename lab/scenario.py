"""Scenario files, format 1 (SCENARIO_FORMAT.md): parse, validate whole, and describe the steps.

validate() returns every problem at once, each naming the step (id or position) and the field;
load() returns a Scenario or raises ScenarioError carrying that list."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .engine import registry
from .errors import N_, DomainError, Problem  # noqa: F401  (Problem: a scenario's findings)
from .i18n import LANGUAGES
from .models.run import ROLES

CASE_KINDLESS = {"membership", "certificate"}
WORKFLOW_KEYS = {"accept_order", "finance_review"}
COMPARISON = re.compile(r"^\s*(>=|<=|>|<|==|!=)\s*(-?\d+(?:\.\d+)?|\$[a-z_]+)\s*$")
# World values (second edition): quantities of the world at the moment of an action, in its case.
WORLD_VALUES = ("ordered", "shortfall", "shortage", "purchased", "delivered", "order_total",
                "returned", "return_total")
WORLD_REF = re.compile(r"^\s*\$([a-z_]+)\s*$")
WORLD_IN_TEXT = re.compile(r"\$([a-z_]+)")
RULES = {"order": ("strict", "loose"), "checks": ("strict", "loose"),
         "unscripted": ("allow", "refuse")}
DEFAULT_RULES = {"order": "strict", "checks": "strict", "unscripted": "allow"}
DEFAULT_BALANCE = 100_000.00  # buyer and company, when the file gives none
DEFAULT_NAMES = {"company": {"en": "The company", "zh": "企业"},
                 "buyer": {"en": "The buyer", "zh": "买方"}}


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
    rules: dict = field(default_factory=lambda: dict(DEFAULT_RULES))
    unscripted_penalty: float = 0
    # How many refused attempts can cost points (lab/grading.py caps): per student and step,
    # and per student in the run.
    max_mistakes_per_step: int = 3
    max_mistakes_per_student: int = 10

    def strict(self, rule: str) -> bool:
        return self.rules.get(rule) == "strict"

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

def _where(kind: str, **args) -> tuple[str, dict]:
    return {
        "file": (N_("file"), {}),
        "step": (N_("step '%(id)s' (#%(n)s)"), args),
        "position": (N_("step #%(n)s"), args),
        "vendor": (N_("world.vendors[%(n)s]"), args),
        "product": (N_("world.products[%(n)s]"), args),
        "objective": (N_("objectives[%(n)s]"), args),
    }[kind]


class _Checker:
    def __init__(self):
        self.problems: list[Problem] = []

    def add(self, where, fld, message, warning=False, **args):
        if isinstance(where, tuple):
            where, where_args = where
            args = {**where_args, **args}
        self.problems.append(Problem(where, fld, message, args, warning))

    def warn(self, where, fld, message, **args):
        self.add(where, fld, message, warning=True, **args)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    def text(self, value, where, fld, required=True) -> None:
        if value is None:
            if required:
                self.add(where, fld, N_("is missing"))
            return
        if isinstance(value, str):
            if required and not value.strip():
                self.add(where, fld, N_("is empty"))
            return
        if isinstance(value, dict):
            shown = ", ".join(LANGUAGES)
            bad = [k for k in value if k not in LANGUAGES]
            if bad:
                self.warn(where, fld, N_("language %(lang)r is not shown (the lab shows "
                                         "%(languages)s)"), lang=bad[0], languages=shown)
            if not any(isinstance(v, str) and v.strip() for v in value.values()):
                self.add(where, fld, N_("needs a text in one of %(languages)s"), languages=shown)
            return
        self.add(where, fld, N_("must be a text or a mapping {%(example)s}"),
                 example=", ".join(f"{code}: ..." for code in LANGUAGES))

    def number(self, value, where, fld, minimum=0.0, integer=False) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value - value == 0):  # .nan, .inf
            self.add(where, fld, N_("must be a number"))
            return False
        if integer and int(value) != value:
            self.add(where, fld, N_("must be a whole number"))
            return False
        if value < minimum:
            if minimum:
                self.add(where, fld, N_("must not be below %(min)s"), min=f"{minimum:g}")
            else:
                self.add(where, fld, N_("must not be negative"))
            return False
        return True


# Limits of a scenario file (an instructor's upload, like the library's own files): the library's
# largest is 6 KB, 6 levels deep, with no alias. Each is checked on the parser's events, before
# anything is built, so a hostile file is refused after reading no more than it must.
MAX_BYTES = 256 * 1024
MAX_DEPTH = 32  # mappings and lists inside one another
MAX_ALIASES = 100  # uses of an anchored value (*name)
MAX_STEPS = 300
MAX_PRODUCTS = 300
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: 20 times faster


def normalize(text: str) -> str:
    """The text a scenario is kept as: no byte-order mark, lines ending in \\n."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def from_upload(data: bytes) -> tuple[Scenario | None, list[Problem]]:
    """An uploaded file: at most MAX_BYTES of UTF-8 text, then validate() it."""
    if len(data) > MAX_BYTES:
        return None, [_too_large(len(data))]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, [Problem(N_("file"), "", N_("The scenario file must be UTF-8 text (YAML)."))]
    return validate(text)


def _too_large(size: int) -> Problem:
    return Problem(N_("file"), "", N_("the file is %(size)s KB; a scenario file may be at most "
                                      "%(max)s KB"),
                   {"size": -(-size // 1024), "max": MAX_BYTES // 1024})


def _at(mark, message: str, **args) -> Problem:
    return Problem(N_("line %(line)s, column %(column)s"), "", message,
                   {"line": mark.line + 1, "column": mark.column + 1, **args})


def _check_limits(text: str) -> Problem | None:
    """The file's size, nesting depth, number of aliases, and its size with every alias written
    out (an "alias bomb" of a few KB expands to hundreds of MB), read from the parser's events
    without building anything; None when the file is within every limit."""
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        return _too_large(size)
    expanded: dict[str, int] = {}  # anchor -> the size of its value written out
    stack: list[list] = []  # open mappings and lists: [anchor, size so far]
    total = aliases = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([event.anchor, 2])
            if len(stack) > MAX_DEPTH:
                return _at(event.start_mark, N_("mappings and lists are nested more than "
                                                "%(max)s levels deep here (a scenario needs "
                                                "about 6)"), max=MAX_DEPTH)
            continue
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                return _at(event.start_mark, N_("more than %(max)s aliases (*name): a scenario "
                                                "file may repeat an anchored value at most "
                                                "%(max)s times"), max=MAX_ALIASES)
            anchor, length = None, expanded.get(event.anchor, 0)
        elif isinstance(event, yaml.ScalarEvent):
            anchor, length = event.anchor, len(event.value) + 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, length = stack.pop()
        else:
            continue
        if anchor:
            expanded[anchor] = length
        if stack:
            stack[-1][1] += length
        else:
            total += length
        if (stack[-1][1] if stack else total) > MAX_BYTES:
            return _at(event.start_mark, N_("with its aliases (*name) written out the file "
                                            "would be larger than %(max)s KB (an alias bomb?)"),
                       max=MAX_BYTES // 1024)
    return None


def _syntax_problem(error: yaml.YAMLError) -> Problem:
    mark = getattr(error, "problem_mark", None)
    where = N_("line %(line)s, column %(column)s") if mark else N_("file")
    args = {"line": mark.line + 1, "column": mark.column + 1} if mark else {}
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and start is not None:
        problem = f"{problem} ({context} that starts at line {start.line + 1})"
    return Problem(where, "", N_("YAML syntax error: %(problem)s"), {**args, "problem": problem})


def parse_yaml(text: str) -> tuple[object, list[Problem]]:
    """The file's data, or the problem that stops it: a syntax error, or a limit it exceeds
    (size, nesting, aliases), checked before anything is built."""
    try:
        limit = _check_limits(text)
        if limit is not None:
            return None, [limit]
        return yaml.load(text, Loader=_LOADER), []
    except yaml.YAMLError as error:
        return None, [_syntax_problem(error)]
    except ValueError as error:  # a date such as 2026-13-01, an integer of 5,000 digits
        return None, [Problem(N_("file"), "", N_("a value cannot be read: %(error)s"),
                              {"error": str(error).split(";")[0][:200]})]


def validate(text: str) -> tuple[Scenario | None, list[Problem]]:
    text = normalize(text)
    data, problems = parse_yaml(text)
    if problems:
        return None, problems
    c = _Checker()
    if not isinstance(data, dict):
        c.add(_where("file"), "",
              N_("must be a YAML mapping (format, id, title, mode, world, script, …)"))
        return None, c.problems
    known_top = {"format", "id", "title", "mode", "summary", "objectives", "time_limit_minutes",
                 "roles", "bots", "world", "script", "scoring", "rules"}
    for key in data:
        if key not in known_top:
            c.warn(_where("file"), str(key), N_("unknown field (ignored)"))
    if str(data.get("format")).strip() != "1":
        c.add(_where("file"), "format", N_("must be 1 (got %(value)r)"), value=data.get("format"))
    slug = data.get("id")
    if not isinstance(slug, str) or not registry.SLUG.match(slug):
        c.add(_where("file"), "id", N_("must be a slug such as b2c-out-of-stock"))
    c.text(data.get("title"), "file", "title")
    mode = str(data.get("mode", "")).strip().lower()
    if mode not in ("b2c", "b2b"):
        c.add(_where("file"), "mode", N_("must be b2c or b2b (got %(value)r)"), value=mode)
        mode = "b2c"
    c.text(data.get("summary"), "file", "summary", required=False)
    objectives = data.get("objectives") or []
    if not isinstance(objectives, list):
        c.add(_where("file"), "objectives", N_("must be a list"))
        objectives = []
    for i, obj in enumerate(objectives):
        c.text(obj, _where("objective", n=i + 1), "", required=True)
    limit = data.get("time_limit_minutes")
    if limit is not None:
        c.number(limit, "file", "time_limit_minutes", minimum=1)
    roles = _role_list(c, data.get("roles"), "roles", required=True)
    bots = _role_list(c, data.get("bots"), "bots", required=False)
    world = data.get("world")
    if not isinstance(world, dict):
        c.add(_where("file"), "world", N_("is missing (company, buyer, products, …)"))
        world = {}
    skus, vendors = _check_world(c, world)
    steps = _check_script(c, data.get("script"), mode, skus, vendors)
    _check_bot_steps(c, steps, roles, bots)
    scoring = data.get("scoring") or {}
    if not isinstance(scoring, dict):
        c.add(_where("file"), "scoring", N_("must be a mapping"))
        scoring = {}
    for key in scoring:
        if key in ("max_mistakes_per_step", "max_mistakes_per_student"):
            c.number(scoring[key], "scoring", key, integer=True)
        elif key not in ("mistake_penalty", "late_penalty_per_minute", "unscripted_penalty"):
            c.warn("scoring", str(key), N_("unknown field (ignored)"))
        else:
            c.number(scoring[key], "scoring", key)
    rules = _check_rules(c, data.get("rules"))
    if c.errors:
        return None, c.problems
    return Scenario(id=slug, title=data["title"], mode=mode, summary=data.get("summary"),
                    objectives=objectives, time_limit_minutes=limit, roles=roles, bots=bots,
                    world=world, steps=steps,
                    mistake_penalty=float(scoring.get("mistake_penalty", 0) or 0),
                    late_penalty_per_minute=float(scoring.get("late_penalty_per_minute", 0) or 0),
                    unscripted_penalty=float(scoring.get("unscripted_penalty", 0) or 0),
                    **{key: int(scoring[key]) for key in ("max_mistakes_per_step",
                                                           "max_mistakes_per_student")
                       if scoring.get(key) is not None},
                    rules=rules, text=text), c.problems  # warnings only


def _check_rules(c, raw) -> dict:
    """`rules` (second edition): order and checks strict or loose, unscripted allow or refuse."""
    rules = dict(DEFAULT_RULES)
    if raw is None:
        return rules
    if not isinstance(raw, dict):
        c.add(_where("file"), "rules", N_("must be a mapping (order, checks, unscripted)"))
        return rules
    for key, value in raw.items():
        if key not in RULES:
            c.warn("rules", str(key), N_("unknown field (ignored)"))
            continue
        value = str(value).strip().lower()
        if value not in RULES[key]:
            c.add("rules", str(key), N_("must be %(choices)s (got %(value)r)"),
                  choices=" or ".join(RULES[key]), value=raw[key])
        else:
            rules[key] = value
    return rules


def resolve(expected, world: dict | None):
    """A check's expected value with its world value filled in: "$shortfall" → 20,
    ">=$shortage" → ">=20". None when the world value is unknown."""
    name = world_ref(expected)
    if name is not None:
        return (world or {}).get(name)
    if isinstance(expected, str) and "$" in expected:
        match = COMPARISON.match(expected)
        if match and match.group(2).startswith("$"):
            value = (world or {}).get(match.group(2)[1:])
            return None if value is None else f"{match.group(1)}{value:g}"
    return expected


def check_passes(expected, actual, world: dict | None = None) -> bool:
    expected = resolve(expected, world)
    if expected is None:
        return False
    if isinstance(expected, str):
        match = COMPARISON.match(expected)
        if match:
            try:
                number = float(actual)
            except (TypeError, ValueError):
                return False
            op, limit = match.group(1), float(match.group(2))
            return {">=": number >= limit, "<=": number <= limit, ">": number > limit,
                    "<": number < limit, "==": number == limit, "!=": number != limit}[op]
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, bool) or actual is None:
        return expected == actual
    return str(expected).strip() == str(actual).strip()


def world_ref(value) -> str | None:
    """The world value a check or input names ("$shortfall" → "shortfall"), or None."""
    if isinstance(value, str):
        match = WORLD_REF.match(value)
        if match:
            return match.group(1)
    return None


def load(text: str, filename: str = "") -> Scenario:
    scenario, problems = validate(text)
    if scenario is None:
        raise ScenarioError(problems, filename)
    return scenario


def _role_list(c, value, fld, required):
    if value is None:
        if required:
            c.add(_where("file"), fld, N_("is missing (a list of roles)"))
        return []
    if not isinstance(value, list):
        c.add(_where("file"), fld, N_("must be a list of roles"))
        return []
    for role in value:
        if role not in ROLES:
            c.add(_where("file"), fld, N_("unknown role %(role)r (roles: %(roles)s)"), role=role,
                  roles=", ".join(ROLES))
    return [r for r in value if r in ROLES]


def _check_world(c, world) -> tuple[set[str], set[str]]:
    for key in world:
        if key not in ("company", "buyer", "vendors", "products", "accounts", "workflow"):
            c.warn("world", str(key), N_("unknown field (ignored)"))
    for party, default in (("company", DEFAULT_NAMES["company"]),
                           ("buyer", DEFAULT_NAMES["buyer"])):
        value = world.get(party)
        if value is None:
            c.warn("world", party, N_("is missing: a default name is used"))
            world[party] = {"name": default}
        elif not isinstance(value, dict):
            c.add("world", party, N_("must be a mapping {name: …}"))
        else:
            c.text(value.get("name"), f"world.{party}", "name")
    vendors: set[str] = set()
    for i, vendor in enumerate(world.get("vendors") or []):
        where = _where("vendor", n=i + 1)
        if not isinstance(vendor, dict):
            c.add(where, "", N_("must be a mapping {key, name}"))
            continue
        key = vendor.get("key")
        if not isinstance(key, str) or not registry.SLUG.match(key):
            c.add(where, "key", N_("must be a slug such as west-lake-farm"))
        elif key in vendors:
            c.add(where, "key", N_("duplicate vendor %(key)r"), key=key)
        else:
            vendors.add(key)
        c.text(vendor.get("name"), where, "name")
    skus: set[str] = set()
    products = world.get("products") or []
    if not isinstance(products, list):
        c.add("world", "products", N_("must be a list"))
        products = []
    elif len(products) > MAX_PRODUCTS:
        c.add("world", "products", N_("has %(n)s products; a scenario may have at most "
                                      "%(max)s"), n=len(products), max=MAX_PRODUCTS)
        products = []
    for i, product in enumerate(products):
        where = _where("product", n=i + 1)
        if not isinstance(product, dict):
            c.add(where, "", N_("must be a mapping {sku, name, price, stock, …}"))
            continue
        sku = product.get("sku")
        if not isinstance(sku, (str, int)) or not str(sku).strip():
            c.add(where, "sku", N_("is missing"))
        elif str(sku) in skus:
            c.add(where, "sku", N_("duplicate sku %(sku)r"), sku=sku)
        else:
            skus.add(str(sku))
        c.text(product.get("name"), where, "name")
        if "price" not in product:
            c.add(where, "price", N_("is missing"))
        else:
            c.number(product["price"], where, "price")
        if "cost" in product:
            c.number(product["cost"], where, "cost")
        c.number(product.get("stock", 0), where, "stock", integer=True)
        vendor = product.get("vendor")
        if vendor is not None and vendor not in vendors:
            c.add(where, "vendor", N_("unknown vendor %(vendor)r"), vendor=vendor)
    accounts = world.get("accounts") or {}
    if not isinstance(accounts, dict):
        c.add("world", "accounts", N_("must be a mapping of party to balance"))
        accounts = {}
    for key, balance in accounts.items():
        if key not in ("buyer", "company") and key not in vendors:
            c.add("world.accounts", str(key), N_("unknown party (buyer, company or a vendor key)"))
        c.number(balance, "world.accounts", str(key))
    workflow = world.get("workflow") or {}
    if not isinstance(workflow, dict):
        c.add("world", "workflow", N_("must be a mapping"))
        workflow = {}
    for key, value in workflow.items():
        if key not in WORKFLOW_KEYS:
            c.add("world.workflow", str(key), N_("unknown step (steps: %(steps)s)"),
                  steps=", ".join(sorted(WORKFLOW_KEYS)))
        elif not isinstance(value, bool):
            c.add("world.workflow", str(key), N_("must be true or false"))
    return skus, vendors


STEP_FIELDS = {"id", "role", "action", "with", "by", "hint", "points", "case", "after",
               "at_minute", "check"}


def _check_script(c, script, mode, skus, vendors) -> list[Step]:
    if not isinstance(script, list) or not script:
        c.add(_where("file"), "script", N_("is missing or empty (a list of steps)"))
        return []
    if len(script) > MAX_STEPS:
        c.add(_where("file"), "script", N_("has %(n)s steps; a scenario may have at most "
                                           "%(max)s"), n=len(script), max=MAX_STEPS)
        return []
    steps: list[Step] = []
    ids: set[str] = set()
    skus = set(skus)
    for index, raw in enumerate(script):
        where = _where("position", n=index + 1)
        if not isinstance(raw, dict):
            c.add(where, "", N_("must be a mapping {id, role, action, …}"))
            continue
        step_id = raw.get("id")
        if isinstance(step_id, (int, float)) and not isinstance(step_id, bool):
            step_id = str(step_id)
        if not isinstance(step_id, str) or not step_id.strip():
            step_id = f"step-{index + 1}"
            c.warn(where, "id", N_("is missing: the step is called %(id)s"), id=step_id)
        else:
            where = _where("step", id=step_id, n=index + 1)
            if step_id in ids:
                c.add(where, "id", N_("duplicate step id"))
        ids.add(step_id)
        for key in raw:
            if key not in STEP_FIELDS:
                c.warn(where, str(key), N_("unknown field (ignored)"))
        role, name = raw.get("role"), raw.get("action")
        action = registry.get(name) if isinstance(name, str) else None
        if role not in ROLES:
            c.add(where, "role", N_("unknown role %(role)r"), role=role)
        if action is None:
            c.add(where, "action", N_("unknown action %(name)r"), name=name)
        elif role in ROLES and action.role != role:
            c.add(where, "action", N_("%(name)s is done by %(by)s, not by %(role)s"), name=name,
                  by=action.role, role=role)
        elif mode not in action.modes:
            c.add(where, "action", N_("%(name)s is not part of a %(mode)s scenario"), name=name,
                  mode=mode)
        params = raw.get("with") or {}
        if not isinstance(params, dict):
            c.add(where, "with", N_("must be a mapping"))
            params = {}
        if action is not None:
            _check_params(c, where, action, params, skus, vendors)
            if name == "publish_product" and isinstance(params.get("sku"), (str, int)):
                skus.add(str(params["sku"]))
        by = raw.get("by")
        if by not in (None, "bot", "student"):
            c.add(where, "by", N_("must be bot (or left out)"))
        c.text(raw.get("hint"), where, "hint", required=False)
        points = raw.get("points", 0)
        c.number(points, where, "points")
        at_minute = raw.get("at_minute")
        if at_minute is not None:
            c.number(at_minute, where, "at_minute")
        check = raw.get("check") or {}
        if not isinstance(check, dict):
            c.add(where, "check", N_("must be a mapping of field to value"))
            check = {}
        for key, value in check.items():
            if isinstance(value, str) and value.strip()[:1] in "<>=!" and \
                    not COMPARISON.match(value):
                c.add(where, f"check.{key}",
                      N_("bad comparison %(value)r (use \">=20\", \"<5\", …)"), value=value)
            _check_world_names(c, where, f"check.{key}", value)
        hint = raw.get("hint")
        for text_value in (hint.values() if isinstance(hint, dict) else [hint]):
            if isinstance(text_value, str):
                for ref in WORLD_IN_TEXT.findall(text_value):
                    if ref not in WORLD_VALUES:
                        c.warn(where, "hint", N_("$%(name)s is not a world value: it is shown as "
                                                 "written (world values: %(names)s)"),
                               name=ref, names=", ".join(WORLD_VALUES))
        after = raw.get("after")
        if after is not None:
            if isinstance(after, str):
                after = [after]
            if not isinstance(after, list):
                c.add(where, "after", N_("must be a list of step ids"))
                after = None
            else:
                after = [str(a) for a in after]
        steps.append(Step(index=index, id=step_id, role=role, action=name or "", params=params,
                          by=by, hint=raw.get("hint"),
                          points=points if isinstance(points, (int, float)) else 0,
                          case=raw.get("case"), after=after, at_minute=at_minute,
                          check=check))
    _check_after(c, steps)
    _resolve_cases(c, steps)
    _check_cycles(c, steps)
    return steps


def _check_bot_steps(c, steps: list[Step], roles: list[str], bots: list[str]) -> None:
    """Warn when what a bot would send for a step contradicts the step's own check: the step
    could only be missed."""
    for step in steps:
        if not (step.by == "bot" or step.role in bots or step.role not in roles):
            continue
        for key, expected in step.check.items():
            if "$" in str(expected):
                continue
            sent = step.params.get(key)
            if sent is None and key == "qty" and isinstance(step.params.get("lines"), list):
                sent = sum(int(line.get("qty", 0)) for line in step.params["lines"]
                           if isinstance(line, dict) and str(line.get("qty", "")).isdigit())
            if sent is not None and "$" not in str(sent) and not check_passes(expected, sent):
                c.warn(_where("step", id=step.id, n=step.number), f"check.{key}",
                       N_("a bot plays this step and sends %(sent)s, which this check "
                          "(%(expected)s) refuses: the step can only be missed"),
                       sent=sent, expected=expected)


def _check_after(c, steps: list[Step]) -> None:
    """`after` may name any step of the script (earlier or later), but not itself."""
    ids = {s.id for s in steps}
    for step in steps:
        for dep in step.after or []:
            if dep not in ids or dep == step.id:
                c.add(_where("step", id=step.id, n=step.number), "after",
                      N_("names no other step %(dep)r"), dep=dep)
        if step.after:
            step.after = [d for d in step.after if d in ids and d != step.id]


def _check_cycles(c, steps: list[Step]) -> None:
    """Dependencies must not go round in a circle: such steps could never be met."""
    deps = {s.id: s.deps for s in steps}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(step_id: str) -> bool:
        state[step_id] = 1
        for dep in deps.get(step_id, []):
            if state.get(dep) == 1 or (state.get(dep) is None and visit(dep)):
                return True
        state[step_id] = 2
        return False

    for step in steps:
        if state.get(step.id) is None and visit(step.id):
            c.add(_where("step", id=step.id, n=step.number), "after",
                  N_("the steps' dependencies go round in a circle"))
            return


def _check_world_names(c, where, fld, value) -> None:
    if not isinstance(value, str) or "$" not in value:
        return
    for name in WORLD_IN_TEXT.findall(value):
        if name not in WORLD_VALUES:
            c.add(where, fld, N_("unknown world value $%(name)s (world values: %(names)s)"),
                  name=name, names=", ".join(WORLD_VALUES))
    if not COMPARISON.match(value) and world_ref(value) is None:
        c.add(where, fld, N_("bad world value %(value)r (use \"$shortfall\" or \">=$shortage\")"),
              value=value)


def _check_params(c, where, action, params, skus, vendors) -> None:
    for key, value in params.items():
        spec = action.input(key)
        if spec is None:
            c.add(where, f"with.{key}", N_("%(name)s takes no %(key)r (it takes: %(takes)s)"),
                  name=action.name, key=key,
                  takes=", ".join(f.name for f in action.inputs) or "-")
            continue
        if isinstance(value, str) and "$" in value and spec.kind in ("int", "money"):
            _check_world_names(c, where, f"with.{key}", value)
            if world_ref(value) is None:
                c.add(where, f"with.{key}", N_("an input takes one world value such as "
                                               "\"$shortfall\", not a comparison"))
            continue
        try:
            parsed = spec.parse(value)
        except DomainError as error:
            c.add(where, f"with.{key}", error.msg, **error.args_)
            continue
        if spec.kind == "lines":
            for line in parsed or []:
                if line["sku"] not in skus:
                    c.add(where, f"with.{key}", N_("unknown sku %(sku)r"), sku=line["sku"])
        elif key == "sku" and action.name != "publish_product" and str(parsed) not in skus:
            c.add(where, f"with.{key}", N_("unknown sku %(sku)r"), sku=parsed)
        elif spec.kind == "vendor" and parsed and parsed.removeprefix("vendor:") not in vendors:
            c.add(where, f"with.{key}", N_("unknown vendor %(vendor)r"), vendor=parsed)


def _resolve_cases(c, steps: list[Step]) -> None:
    """Fill in each step's case and its dependencies (SCENARIO_FORMAT.md, Steps)."""
    starters = {s.id for s in steps if registry.get(s.action) and s.starts_case}
    current = None
    previous_in: dict[str | None, str] = {}
    for step in steps:
        action = registry.get(step.action)
        if action is None:
            continue
        where = _where("step", id=step.id, n=step.number)
        if action.starts_case:
            if step.case not in (None, step.id):
                c.add(where, "case", N_("a step that starts a case cannot belong to another"))
            step.case = step.id
            current = step.id
        elif not action_in_case(action):
            if step.case is not None:
                c.warn(where, "case", N_("%(name)s belongs to no case (ignored)"),
                       name=step.action)
            step.case = None
        elif step.case is not None:
            if step.case not in starters:
                c.add(where, "case", N_("names no case-starting step %(case)r"), case=step.case)
                continue
            if steps.index(step) < next(i for i, s in enumerate(steps) if s.id == step.case):
                c.add(where, "case", N_("case %(case)r starts after this step"), case=step.case)
        else:
            if current is None:
                c.add(where, "case", N_("no order or inquiry is started before this step"))
                continue
            step.case = current
        if step.after is not None:
            step.deps = list(step.after)
        elif not action.starts_case and step.case in previous_in:
            step.deps = [previous_in[step.case]]
        previous_in[step.case] = step.id


def load_file(path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError([Problem(N_("file"), "", N_("cannot read it: %(error)s"),
                                     {"error": str(error)})], str(path)) from error
    return load(text, str(path))


# ---- the shipped library ------------------------------------------------------------------

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "scenarios"
# path -> ((modification time, size), Scenario or None when it does not load)
_library: dict[Path, tuple[tuple[int, int], Scenario | None]] = {}


def library(directory: Path | None = None) -> list[Scenario]:
    """The scenarios of the library folder, in file-name order. Each file is read and validated
    once, and again only when its modification time or size changes (a page that lists the
    library costs a directory listing, not a parse of every file). A file that does not load is
    left out, with a warning in the log."""
    scenarios = []
    for path in sorted((directory or LIBRARY_DIR).glob("*.yaml")):
        try:
            stat = path.stat()
        except OSError:
            continue
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _library.get(path)
        if cached is None or cached[0] != stamp:
            try:
                scenario = load_file(path)
            except ScenarioError:
                logging.getLogger(__name__).warning("scenario %s does not load", path)
                scenario = None
            cached = _library[path] = (stamp, scenario)
        if cached[1] is not None:
            scenarios.append(cached[1])
    return scenarios
