"""Every step can be played from the consoles' forms alone: each form offers every input its
action declares in the registry (what a scenario's `check` may compare), and a return of part of
an order goes through the buyer's page as a browser would send it."""
from html.parser import HTMLParser

import pytest

from lab.engine import REGISTRY
from lab.extensions import db
from lab.models import Document, Event
from lab.runs import grade_run, scenario_of
from lab.scenario import load_file
from tests.helpers import SCENARIOS, balance, doc, login, make_user, play, start_run, stock

# Actions a student starts from a panel form of their own, not from /act/<action>: the form
# (by the end of its URL) and the inputs it carries.
OWN_FORMS = {
    "place_order": {"/checkout": {"payment", "delivery_date"}, "/cart": {"sku", "qty"}},
    "request_certificate": {"/certificate": {"password"}},
}


class Forms(HTMLParser):
    """The forms of a page with their fields, as a browser sees them: [{action, fields}], each
    field a dict (tag, name, type, value; a select's chosen value; a textarea's text)."""

    def __init__(self, html: str):
        super().__init__()
        self.forms, self._form, self._field, self.text = [], None, None, ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = {"action": attrs.get("action", ""), "fields": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag in ("input", "select", "textarea", "button") and attrs.get("name"):
            self._field = {"tag": tag, "name": attrs["name"], "type": attrs.get("type", ""),
                           "value": attrs.get("value", ""), "id": attrs.get("id", ""),
                           "attrs": attrs, "options": []}
            self._form["fields"].append(self._field)
        elif tag == "option" and self._field and self._field["tag"] == "select":
            self._field["options"].append(attrs.get("value", ""))
            if "selected" in attrs or len(self._field["options"]) == 1:
                self._field["value"] = attrs.get("value", "")

    def handle_data(self, data):
        self.text += data
        if self._field and self._field["tag"] == "textarea":
            self._field["value"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        if tag in ("select", "textarea"):
            self._field = None

    def posting_to(self, ending: str) -> list[dict]:
        return [f for f in self.forms if f["action"].endswith(ending)]


def names(form) -> list[str]:
    return [f["name"] for f in form["fields"]]


def expected_names(action) -> set[str]:
    wanted = {f.name for f in action.inputs if f.kind != "lines"}
    if any(f.kind == "lines" for f in action.inputs):
        wanted |= {"sku", "qty"}
    return wanted


def page(client, url) -> Forms:
    response = client.get(url)
    assert response.status_code == 200, url
    return Forms(response.get_data(as_text=True))


def submit(client, form, **typed):
    """Send a form as a browser would: every named field with its value (typed ones replaced by
    name; a list types the repeated fields of that name in order)."""
    data = {}
    counters = {}
    for field in form["fields"]:
        if field["tag"] == "button":
            continue
        name, value = field["name"], field["value"]
        if name in typed:
            given = typed[name]
            if isinstance(given, list):
                value = given[counters.get(name, 0)]
                counters[name] = counters.get(name, 0) + 1
            else:
                value = given
        data.setdefault(name, []).append(value)
    return client.post(form["action"], data=data)


@pytest.fixture
def seat_holder(app):
    """Starts a run of a scenario with one logged-in student holding every seat."""
    def start(slug):
        user = make_user(f"all-{slug}")
        roles = load_file(SCENARIOS / f"{slug}.yaml").roles
        run = start_run(slug, seats={role: [user.id] for role in roles})
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        login(client, user.username)
        return run, client
    return start


# ---- every action's form offers every declared input -----------------------------------------

def neutral(forms, check):
    """What the forms start with is never the value the step checks: a student who only presses
    the button does not meet a step that asks for a number."""
    literal = {k: str(v) for k, v in (check or {}).items()
               if not (isinstance(v, str) and (v[:1] in "<>$" or v.startswith(">=")))}
    for form in forms:
        for field in form["fields"]:
            if field["name"] in literal and field["type"] != "hidden":
                assert field["value"] != literal[field["name"]], (form["action"], field)


def check_forms_of(run, client, role, action_name, seen, check=None):
    """The step's action is due: its form on the role's console (and, for an action on a
    document, on that document's page) carries every input the registry declares, none filled
    with the value the step checks."""
    action = REGISTRY[action_name]
    base = f"/run/{run.id}/{role}"
    if action_name in OWN_FORMS:
        if action_name == "place_order":  # the checkout shows once the cart holds something
            sku = page(client, base + "/").posting_to("/cart")[0]
            assert submit(client, sku).status_code == 302
        forms = page(client, base + "/")
        for ending, wanted in OWN_FORMS[action_name].items():
            found = [names(form) for form in forms.posting_to(ending)]
            assert any(wanted <= set(got) for got in found), (
                f"{action_name}: no form posting to {ending} with {sorted(wanted)} on the {role} "
                f"console (found {found})")
            neutral(forms.posting_to(ending), check)
        if action_name == "place_order":
            clear = next(f for f in forms.posting_to("/cart")
                         if ("op", "set") in {(x["name"], x["value"]) for x in f["fields"]})
            assert submit(client, clear, op="clear").status_code == 302  # empty it again
        seen.add(action_name)
        return
    console = page(client, base + "/")
    forms = console.posting_to(f"/act/{action_name}")
    if not forms:  # something must come first (a sign_contract without a certificate)
        assert f"{action.label} · waiting:" in console.text, (
            f"{action_name} is due but the {role} console neither offers it nor says why")
        return
    pages = [("console", forms)]
    docs = {f["value"] for form in forms for f in form["fields"] if f["name"] == "doc"}
    for doc_id in docs:
        pages.append((f"doc {doc_id}",
                      page(client, f"{base}/doc/{doc_id}").posting_to(f"/act/{action_name}")))
    for where, found in pages:
        assert found, f"{action_name}: no form on {where}"
        neutral(found, check)
        for form in found:
            got = names(form)
            missing = expected_names(action) - set(got)
            assert not missing, f"{action_name} on {where} lacks {sorted(missing)}"
            if any(f.kind == "lines" for f in action.inputs):
                document = db.session.get(Document, int(next(
                    f["value"] for f in form["fields"] if f["name"] == "doc")))
                assert got.count("sku") == got.count("qty") == len(document.lines) > 0
    seen.add(action_name)


def _play_step(run, step):
    """A bot performs the step (and what must come first), as \"show me\" does."""
    from lab.bots import play_step
    for _ in range(8):
        if next(s for s in grade_run(run).steps if s.id == step.id).met:
            return
        assert play_step(run, step), f"step {step.id} could not be played"
    raise AssertionError(f"step {step.id} is still not met")


LIBRARY = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def test_every_student_action_is_offered_with_all_its_inputs(app, english, seat_holder):
    """Walk every library scenario step by step; before each step a student performs, its form
    (and the other forms shown beside it, such as reject_* and review_order) carry every input
    the registry declares. Every action a student may perform is met on some walk."""
    seen = set()
    for slug in LIBRARY:
        run, client = seat_holder(slug)
        for step in scenario_of(run).steps:
            if step.by != "bot" and \
                    not next(s for s in grade_run(run).steps if s.id == step.id).met:
                check_forms_of(run, client, step.role, step.action, seen, step.check)
                # the forms beside it: every other action the console offers now
                for form in page(client, f"/run/{run.id}/{step.role}/").forms:
                    name = form["action"].rpartition("/act/")[2]
                    if "/act/" in form["action"] and name not in seen:
                        check_forms_of(run, client, step.role, name, seen)
            _play_step(run, step)
    students = {name for name, a in REGISTRY.items() if a.role != "instructor"}
    assert students - seen == set(), "never offered on a console during the walks"


# ---- a return of 1 cup of 3, from the buyer's page ------------------------------------------

@pytest.fixture
def received(seat_holder):
    """b2c-return with the order of 3 cups received; one student in every seat."""
    run, client = seat_holder("b2c-return")
    play(run, until="return")
    assert stock(run, "CUP-01") == 37
    return run, client


def return_form(run, client, url=None):
    forms = page(client, url or f"/run/{run.id}/buyer/").posting_to("/act/request_return")
    assert len(forms) == 1
    form = forms[0]
    qty = [f for f in form["fields"] if f["name"] == "qty"]
    # one box per line: the full quantity to start with (neutral), 0 to 3
    assert [(f["value"], f["attrs"]["min"], f["attrs"]["max"]) for f in qty] == [("3", "0", "3")]
    return form


@pytest.mark.parametrize("where", ["console", "document"])
def test_a_return_of_one_cup_of_three_from_the_buyers_page(received, where):
    run, client = received
    order = doc(run, "order")
    url = f"/run/{run.id}/buyer/" + (f"doc/{order.id}" if where == "document" else "")
    form = return_form(run, client, url)
    buyer_before = balance(run, "buyer")
    response = submit(client, form, reason="One cup arrived chipped", qty=["1"])
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    ret = doc(run, "return")
    assert [(l.product.sku, l.qty) for l in ret.lines] == [("CUP-01", 1)]
    assert (ret.text, ret.amount_cents) == ("One cup arrived chipped", 3500)
    step = next(s for s in grade_run(run).steps if s.id == "return")
    assert step.met and step.points == 10

    play(run)  # sales approves, logistics picks up, the warehouse receives, finance refunds
    refund = db.session.scalars(db.select(Event).where(Event.run_id == run.id,
                                                       Event.action == "refund",
                                                       Event.ok.is_(True))).one()
    assert refund.result["amount"] == 35.0
    assert balance(run, "buyer") == f"{float(buyer_before) + 35:.2f}"
    assert stock(run, "CUP-01") == 38
    assert grade_run(run).completed


def test_returning_nothing_is_refused_and_changes_nothing(received):
    run, client = received
    form = return_form(run, client)
    events_before = db.session.query(Event).count()
    response = submit(client, form, reason="Changed my mind", qty=["0"])
    # refused: back to the console (post/redirect/get), which says why beside the form
    assert response.status_code == 303
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Give a quantity for at least one product." in text
    assert 'data-error-field="lines"' in text
    answer = client.post(form["action"], data={**{f["name"]: f["value"] for f in form["fields"]},
                                               "qty": "0", "request_key": "zero-qty-json-1"},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 400
    assert answer.get_json() == {"ok": False, "field": "lines",
                                 "error": "Give a quantity for at least one product."}
    assert db.session.query(Document).filter_by(kind="return").count() == 0
    assert db.session.query(Event).count() == events_before
    assert stock(run, "CUP-01") == 37
    # the form is still there to try again
    return_form(run, client)
