"""A student who plays by the guide, as a browser does: a small DOM of the page, the guide's
steps read from it, and the console's forms filled from the hint's text only, one small parser
per kind of input. Nothing here touches the lab's code or its database: the student holds any
client with ``get(url)`` and ``post(url, data=...)`` answering with ``status_code``,
``headers``, ``get_data(as_text=True)`` and ``get_json()`` (Flask's test client; the class
benchmark's adapter around locust's HTTP client).

Used by tests/test_play_by_the_guide.py (every shipped scenario to a full score over HTTP) and
bench/class_bench.py (a class of students playing whole scenarios against a real server)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from urllib.parse import urlsplit

# ---- a page as a browser holds it -----------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        parts = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text())
        return "".join(parts)

    def clean_text(self) -> str:
        return " ".join(self.text().split())

    def walk(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def find_all(self, pred) -> list[Node]:
        return [n for n in self.walk() if pred(n)]

    def find(self, pred):
        return next((n for n in self.walk() if pred(n)), None)

    def ancestor(self, pred):
        node = self.parent
        while node is not None and not pred(node):
            node = node.parent
        return node


class Page(HTMLParser):
    """A small DOM: enough to read the guide, the forms and the cards around them."""

    def __init__(self, markup: str, url: str = ""):
        super().__init__(convert_charrefs=True)
        self.url = url
        self.root = self._at = Node("#root", {})
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self._at)
        self._at.children.append(node)
        if tag not in VOID:
            self._at = node

    def handle_startendtag(self, tag, attrs):
        self._at.children.append(Node(tag, attrs, self._at))

    def handle_endtag(self, tag):
        node = self._at
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self._at = node.parent

    def handle_data(self, data):
        self._at.children.append(data)

    # what the students look at
    def forms(self) -> list[Form]:
        return [Form(n) for n in self.root.find_all(lambda n: n.tag == "form")]

    def by_class(self, name) -> list[Node]:
        return self.root.find_all(lambda n: name in n.classes)

    def by_id(self, ident):
        return self.root.find(lambda n: n.attrs.get("id") == ident)

    def alerts(self, kind="danger") -> list[str]:
        return [n.clean_text() for n in self.by_class(f"alert-{kind}")]


class Form:
    def __init__(self, node: Node):
        self.node = node
        self.action = node.attrs.get("action", "")
        self.fields = node.find_all(lambda n: n.tag in ("input", "select", "textarea")
                                    and n.attrs.get("name"))
        button = node.find(lambda n: n.tag == "button")
        self.button = button.clean_text() if button is not None else ""

    def posts_to(self, ending: str) -> bool:
        return urlsplit(self.action).path.endswith(ending)

    def hidden(self, name):
        return next((f.attrs.get("value", "") for f in self.fields
                     if f.attrs.get("name") == name and f.attrs.get("type") == "hidden"), None)

    def visible(self) -> list[Node]:
        return [f for f in self.fields if f.attrs.get("type") != "hidden"]

    @staticmethod
    def value_of(f: Node) -> str:
        if f.tag == "select":
            options = f.find_all(lambda n: n.tag == "option")
            chosen = next((o for o in options if "selected" in o.attrs), None) or \
                (options[0] if options else None)
            return chosen.attrs.get("value", "") if chosen is not None else ""
        if f.tag == "textarea":
            return f.text()
        return f.attrs.get("value", "")

    def data(self, typed: dict[int, str]) -> dict[str, list[str]]:
        """What the browser sends: every named field (typed ones by the field's identity); of
        radio buttons only the chosen one (a typed one is chosen, else the one checked)."""
        sent: dict[str, list[str]] = {}
        picked = {f.attrs["name"] for f in self.fields
                  if f.attrs.get("type") == "radio" and id(f) in typed}
        for f in self.fields:
            if f.attrs.get("type") == "radio":
                if id(f) not in typed and (f.attrs["name"] in picked or "checked" not in f.attrs):
                    continue
                value = f.attrs.get("value", "on")
            else:
                value = typed.get(id(f), self.value_of(f))
            sent.setdefault(f.attrs["name"], []).append(value)
        return sent


def options(select: Node) -> list[tuple[str, str]]:
    return [(o.attrs.get("value", ""), o.clean_text())
            for o in select.find_all(lambda n: n.tag == "option")]


# ---- reading a hint: one small parser per kind of input -------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")
MONEY = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+\.\d{2}|\d+\.\d{2})(?![\d])")
SKU = re.compile(r"\b([A-Z]{2,}-[A-Z0-9]+)\b")
# A quantity is a whole number with a count word after it ("20 boxes", "80 tea sets", "2 盒").
COUNT_EN = re.compile(r"(?<![\d.,\w-])(\d+)\s+(?:[A-Za-z]+\s+)?(?:boxes|box|bags|bag|sets|set|"
                      r"cups|cup|pieces|piece|units|unit|items|item|teapots|teapot)\b", re.I)
COUNT_ZH = re.compile(r"(?<![\d.,\w-])(\d+)\s*(?:盒|袋|套|只|件|个|把|杯|箱|瓶|罐)")
EXAMPLE = re.compile(r"(?:e\.g\.|for example|例如|比如)\s*", re.I)
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]


def hint_qty(hint: str) -> str | None:
    found = [m for rx in (COUNT_EN, COUNT_ZH) for m in rx.finditer(hint)]
    found.sort(key=lambda m: m.start())
    return found[0].group(1) if found else None


def hint_money(hint: str, keywords: tuple[str, ...]) -> str | None:
    """An amount: the one given as an example ("e.g. 1,380.00"), else the one right after one
    of the field's words ("at 198.00", "售价 198.00", "cost 110.00")."""
    example = EXAMPLE.search(hint)
    if example:
        after = MONEY.match(hint, example.end())
        if after:
            return after.group(1)
    for word in keywords:
        m = re.search(re.escape(word) + r"\s*(?:of\s+|:\s*)?" + MONEY.pattern, hint, re.I)
        if m:
            return m.group(1)
    return None


def hint_stock(hint: str) -> str | None:
    m = (re.search(r"(\d+)\s+in stock", hint, re.I) or re.search(r"stock\s*:?\s*(\d+)", hint, re.I)
         or re.search(r"库存\s*(\d+)", hint))
    return m.group(1) if m else None


def hint_date(hint: str, today: date) -> str | None:
    m = re.search(r"(\d{4}-\d{2}-\d{2})", hint)
    if m:
        return m.group(1)
    m = re.search(r"(\d{1,2})\s*月\s*(\d{1,2})\s*日", hint)
    if m:
        month, day = int(m.group(1)), int(m.group(2))
    else:
        m = re.search(r"(\d{1,2})\s+(" + "|".join(MONTHS) + r")\b", hint, re.I)
        if not m:
            return None
        day, month = int(m.group(1)), MONTHS.index(m.group(2).lower()) + 1
    year = today.year if (month, day) >= (today.month, today.day) else today.year + 1
    return date(year, month, day).isoformat()


def hint_password(hint: str) -> str | None:
    m = re.search(r"[\"“'‘「]([^\"”'’」\s]{6,})[\"”'’」]", hint) or \
        re.search(r"(?:password|密码)\s*(?:is|为|是|:|:)\s*(\S{6,})", hint, re.I)
    return m.group(1).rstrip("。.,,)") if m else None  # noqa: B005 (any trailing punctuation)


def hint_rating(hint: str) -> str | None:
    m = re.search(r"([1-5])\s*(?:stars?|星|/\s*5)", hint, re.I)
    return m.group(1) if m else None


def words(value: str) -> set[str]:
    """What two texts can share: Chinese characters, and English words of 3+ letters."""
    value = value.lower()
    return set(CJK.findall(value)) | {w for w in re.findall(r"[a-z]{3,}", value)
                                      if w not in ("the", "and", "for", "with")}


def best_match(hint: str, candidates: list[tuple[str, str]], what: str):
    """The candidate (key, name) the hint names: its SKU or key in the hint, else the name
    sharing the most words with it. None when the hint names none; an error when two tie."""
    for key, _name in candidates:
        if key and re.search(r"(?<![\w-])" + re.escape(key) + r"(?![\w-])", hint):
            return key
    scored = sorted(((len(words(name) & words(hint)), key) for key, name in candidates),
                    reverse=True)
    if not scored or scored[0][0] == 0:
        return candidates[0][0] if len(candidates) == 1 else None
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        raise Blocked(f"the hint {hint!r} names no single {what}: {candidates}")
    return scored[0][1]


def option_named(hint: str, select: Node) -> str | None:
    """The option of a select whose label the hint says ("bank transfer", "西湖茶园")."""
    low = hint.lower()
    for value, label in options(select):
        if value and label and label.lower() in low:
            return value
    return None


def name_from_hint(hint: str, sku: str) -> str:
    """A new product's name, as the student reads it before its SKU ("Publish the gift box
    GIFT-01" → "gift box", "上架礼盒 GIFT-01" → "礼盒")."""
    clause = re.split(r"[,.;:,。;:]", hint[:hint.find(sku)])[-1].strip()
    if CJK.search(clause):
        clause = re.sub(r"^(上架|发布|添加|新增)", "", clause)
    else:
        clause = " ".join(w for w in clause.split()[1:] if w.lower() not in ("the", "a", "an"))
    return clause.strip() or sku


class Blocked(AssertionError):
    """What keeps the students from a full score: the finding, with what they saw."""


# ---- the students ---------------------------------------------------------------------------

@dataclass
class Student:
    role: str
    client: object
    user_id: int
    run_id: int
    last_seen: int | None = None
    page: Page | None = None
    memory: dict = field(default_factory=dict)   # what the student chose themself (a password)
    invented: list = field(default_factory=list)  # inputs the hint did not give, and what was typed
    done: list = field(default_factory=list)      # (step, action, typed)

    @property
    def console(self) -> str:
        return f"/run/{self.run_id}/{self.role}/"

    def get(self, url) -> Page:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return Page(response.get_data(as_text=True), url)

    def poll(self) -> bool:
        """The console's poll: True when the run moved since the student last looked."""
        answer = self.client.get(f"/live/{self.run_id}?since={self.last_seen or 0}").get_json()
        moved = self.page is None or answer["last"] != self.last_seen
        self.last_seen = answer["last"]
        return moved

    def look(self) -> Page:
        self.page = self.get(self.console)
        return self.page

    def guide(self) -> dict:
        page = self.page
        steps = []
        for node in page.by_class("guide-step"):
            def part(cls, node=node):
                found = node.find(lambda n: cls in n.classes)
                return found.clean_text() if found is not None else None
            head = node.find(lambda n: n.tag == "div")
            steps.append({
                "step": node.attrs.get("data-step"), "action": node.attrs.get("data-action"),
                "role": node.attrs.get("data-role"), "hint": part("guide-hint") or "",
                "first": part("guide-first"), "waiting": part("guide-waiting"),
                "bot": head is not None and head.find(
                    lambda n: {"badge", "bg-secondary"} <= n.classes) is not None})
        grade = page.by_id("see-my-grade")
        title = page.root.find(lambda n: n.tag == "h1")
        return {"steps": steps, "completed": grade is not None,
                "grade_url": grade.attrs.get("href") if grade is not None else None,
                "role_label": title.clean_text() if title is not None else self.role,
                "text": (page.by_id("guide") or Node("x", {})).clean_text()}


def choose_language(student: Student, code: str) -> None:
    """Press the language button of the top bar, as a user does."""
    home = student.get("/")
    form = next((f for f in home.forms() if f.posts_to(f"/lang/{code}")), None)
    assert form is not None, f"no language switch to {code} on the home page"
    response = student.client.post(form.action, data=form.data({}))
    assert response.status_code == 302
    shown = student.get("/").root.find(lambda n: n.tag == "html").attrs.get("lang")
    assert shown == ("zh-CN" if code == "zh" else "en"), shown


# ---- doing a step the guide shows -----------------------------------------------------------

def fill(student: Student, form: Form, hint: str, page: Page, action: str) -> dict[int, str]:
    """What the student types into the form's visible inputs, from the hint; the rest stays as
    the page has it."""
    typed: dict[int, str] = {}
    names = [f.attrs["name"] for f in form.visible()]

    def invent(f, value, why):
        typed[id(f)] = value
        student.invented.append((action, f.attrs["name"], value, why))

    for f in form.visible():
        name, kind = f.attrs["name"], f.attrs.get("type", f.tag)
        maxlength = int(f.attrs.get("maxlength") or 500)
        if name == "qty" and f.ancestor(lambda n: "lines-input" in n.classes) is not None:
            # a return: one box per line of the order, the full quantity to start with; the
            # hint's quantity goes to the line of the product it names (0 to the others)
            qty = hint_qty(hint)
            rows = f.ancestor(lambda n: "lines-input" in n.classes).find_all(
                lambda n: "lines-row" in n.classes)
            row = f.ancestor(lambda n: "lines-row" in n.classes)
            if qty is not None:
                named = best_match(hint, [(r.attrs["data-sku"], r.find(
                    lambda n: n.tag == "label").clean_text()) for r in rows], "product")
                typed[id(f)] = qty if len(rows) == 1 or named == row.attrs["data-sku"] else "0"
        elif name == "qty":
            qty = hint_qty(hint)
            if qty is not None:
                typed[id(f)] = qty
        elif name == "stock":
            value = hint_stock(hint)
            if value is None:
                raise Blocked(f"{action}: the hint {hint!r} gives no stock")
            typed[id(f)] = value
        elif name in ("price", "cost"):
            keywords = {"price": ("price", "at", "售价", "价格", "报价"),
                        "cost": ("cost", "成本")}[name]
            value = hint_money(hint, keywords)
            if value is not None:
                typed[id(f)] = value
            elif "required" in f.attrs:
                raise Blocked(f"{action}: the hint {hint!r} gives no {name}")
        elif f.tag == "select":
            value = option_named(hint, f)
            if value is not None:
                typed[id(f)] = value
        elif kind == "date":
            value = hint_date(hint, date.today())
            if value is not None:
                typed[id(f)] = value
        elif kind == "password":
            value = hint_password(hint) or student.memory.get("password")
            if value is None:
                value = f"{student.role}-secret-1"
                student.memory["password"] = value
                invent(f, value, "the hint asks for a password of my own")
            else:
                typed[id(f)] = value
                student.memory["password"] = value
        elif name == "sku":
            sku = SKU.search(hint)
            if sku:
                typed[id(f)] = sku.group(1)
            else:  # the student finds the product on the marketplace beside the form
                cards = [(c.attrs["data-sku"], c.clean_text())
                         for c in page.by_class("product") if c.attrs.get("data-sku")]
                chosen = best_match(hint, cards, "product")
                if chosen is None:
                    raise Blocked(f"{action}: the hint {hint!r} names no product")
                typed[id(f)] = chosen
        elif name == "name":
            sku = SKU.search(hint)
            typed[id(f)] = name_from_hint(hint, sku.group(1) if sku else "")[:maxlength]
        elif name == "rating" and kind == "radio":
            # the stars: the student clicks the one the hint gives (else the last, the best)
            stars = [r for r in form.visible() if r.attrs["name"] == "rating"]
            if f is not stars[-1]:
                continue  # the choice is made once, at the last star
            value = hint_rating(hint)
            chosen = next((r for r in stars if r.attrs.get("value") == value), None)
            if chosen is None:
                chosen = stars[-1]
                student.invented.append((action, name, chosen.attrs.get("value"),
                                         "the hint gives no rating"))
            typed[id(chosen)] = chosen.attrs.get("value", "")
        elif name == "rating":
            value = hint_rating(hint)
            if value is None:
                invent(f, f.attrs.get("max", "5"), "the hint gives no rating")
            else:
                typed[id(f)] = value
        elif name in ("reason", "title", "body", "text"):
            # what the student writes: the hint says what it is about
            typed[id(f)] = hint[:maxlength]
        elif "required" in f.attrs and not Form.value_of(f):
            raise Blocked(f"{action}: nothing in the hint {hint!r} fills {name} ({names})")
    return typed


def send(student: Student, form: Form, typed: dict[int, str], where: str, context: str):
    data = form.data(typed)
    response = student.client.post(form.action, data=data)
    if response.status_code != 302:
        location = response.headers.get("Location")
        page = student.get(location) if location else Page(response.get_data(as_text=True))
        shown = {k: v for k, v in data.items() if k not in ("csrf_token", "request_key")}
        raise Blocked(f"{context}: the form on {where} was refused "
                      f"({response.status_code}): {page.alerts() or page.alerts('warning')}; "
                      f"sent {shown}")
    return data


def place_order(student: Student, hint: str, context: str) -> dict:
    """A shop order: the product the hint names into the cart with the hint's quantity, then
    check out with the payment method (and delivery date) the hint names."""
    page = student.page
    cards = [(c.attrs["data-sku"], c.find(lambda n: "fw-semibold" in n.classes).clean_text())
             for c in page.by_class("product")]
    sku = best_match(hint, cards, "product")
    if sku is None:
        raise Blocked(f"{context}: the hint {hint!r} names none of the products {cards}")
    add = next(f for f in page.forms() if f.posts_to("/cart") and f.hidden("sku") == sku
               and f.hidden("op") is None)
    qty_box = next(f for f in add.visible() if f.attrs["name"] == "qty")
    qty = hint_qty(hint)
    typed = {id(qty_box): qty} if qty is not None else {}
    sent = send(student, add, typed, "the shop", context)
    page = student.look()
    checkout = next((f for f in page.forms() if f.posts_to("/checkout")), None)
    if checkout is None:
        raise Blocked(f"{context}: no checkout after adding {sku} to the cart")
    typed = fill(student, checkout, hint, page, "place_order")
    sent.update(send(student, checkout, typed, "the checkout", context))
    return sent


def request_certificate(student: Student, hint: str, context: str) -> dict:
    page = student.page
    form = next((f for f in page.forms() if f.posts_to("/certificate")), None)
    if form is None:
        raise Blocked(f"{context}: no certificate form on the buyer's console")
    typed = fill(student, form, hint, page, "request_certificate")
    first = next(f for f in form.visible() if f.attrs["name"] == "password")
    again = next(f for f in form.visible() if f.attrs["name"] == "password2")
    typed[id(first)] = typed[id(again)] = student.memory["password"]  # typed twice
    return send(student, form, typed, "the certificate form", context)


def act_on_page(student: Student, action: str, hint: str, context: str, number: str = "",
                label: str = "") -> dict:
    """Find the action's form (by its URL, or by its button's words when the guide names the
    action) on the console, else on the pages of the documents the inbox links to."""
    def matching(page):
        found = [f for f in page.forms()
                 if (action and f.posts_to(f"/act/{action}")) or (label and f.button == label)]
        return found

    page = student.page
    pages = [(student.console, page)]
    for link in page.root.find_all(lambda n: n.tag == "a" and "/doc/" in n.attrs.get("href", "")
                                   and n.ancestor(lambda a: a.attrs.get("id") == "inbox")):
        pages.append((link.attrs["href"], None))
    numbers = set(re.findall(r"\d[\d,]*(?:\.\d+)?", hint)) | ({number} if number else set())
    for where, found_page in pages:
        found_page = found_page or student.get(where)
        forms = matching(found_page)
        if not forms:
            continue
        # several documents wait for this action: the one the guide names (its number, an
        # amount or a quantity of the hint), else the first
        def named(form, found_page=found_page):
            row = form.node.ancestor(lambda n: "inbox-row" in n.classes)
            text = row.clean_text() if row is not None else found_page.root.clean_text()
            return any(n and n in text for n in numbers)
        form = next((f for f in forms if named(f)), forms[0]) if len(forms) > 1 else forms[0]
        typed = fill(student, form, hint, found_page, action or label)
        return send(student, form, typed, where, context)
    raise Blocked(f"{context}: the guide shows “{action or label}” ready, but no form for it on "
                  f"the console or the documents of the inbox")


def take_turn(student: Student, slug: str, lang: str) -> bool:
    """Look at the guide; do the first step of this role that can be done now. True if done."""
    guide = student.guide()
    for step in guide["steps"]:
        if step["bot"] or step["waiting"]:
            continue
        context = (f"{slug} [{lang}] step {step['step']} ({step['action']}, {student.role}); "
                   f"hint {step['hint']!r}")
        if re.search(r"\$[a-z_]+", step["hint"]):
            raise Blocked(f"{context}: a world value is not filled in")
        if step["first"]:
            # something must come first: do it when it is this role's ("First: Buyer — Apply
            # for a CA certificate"), else wait for whoever it is
            who, _, what = step["first"].partition(":")[2].partition(" — ")
            if who.strip() != guide["role_label"]:
                continue
            parts = what.split()
            number = parts[-1] if parts and re.match(r"^[A-Z]+-\d+$", parts[-1]) else ""
            label = what[: -len(number)].strip() if number else what.strip()
            if label == certificate_label(student):
                sent = request_certificate(student, step["hint"], context)
            else:
                sent = act_on_page(student, "", step["hint"], context, number, label)
            student.done.append((f"{step['step']} (first)", label, sent))
            return True
        if step["role"] != student.role:
            continue
        if step["action"] == "place_order":
            sent = place_order(student, step["hint"], context)
        elif step["action"] == "request_certificate":
            sent = request_certificate(student, step["hint"], context)
        else:
            sent = act_on_page(student, step["action"], step["hint"], context)
        student.done.append((step["step"], step["action"], sent))
        return True
    return False


def certificate_label(student: Student) -> str:
    form = next((f for f in (student.page or student.look()).forms()
                 if f.posts_to("/certificate")), None)
    return form.button if form is not None else "\0"
