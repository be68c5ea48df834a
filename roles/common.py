"""What every console shares: the seat guard, the inbox, the action endpoint, the document view,
the role's history and the live fragment. Views parse forms and call the engine; nothing here
decides a business rule."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import zip_longest

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template,
                   request, session, url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from lab import once
from lab.classroom import access, zones
from lab.engine import Actor, check, perform, registry
from lab.engine.labels import action_label
from lab.errors import N_, AlreadyDone, DomainError, InvalidInput
from lab.extensions import db
from lab.models import Document, Event, Party, Run
from lab.models.base import utcnow
from lab.practice import guide
from lab.views import MAX_ID, safe_next


@dataclass
class InboxRow:
    doc: Document
    actions: list  # [(Action, refusal or None)]

    @property
    def ready(self) -> list:
        return [a for a, refusal in self.actions if refusal is None]


class Console:
    """A role's console blueprint with the common routes; modules add panels with @panels."""

    def __init__(self, role: str):
        self.role = role
        self.bp = Blueprint(role, __name__, url_prefix=f"/run/<int:run_id>/{role}")
        self._panels = lambda run: {}
        self.bp.url_value_preprocessor(self._pull_run_id)
        self.bp.url_defaults(self._push_run_id)
        self.bp.before_request(self._guard)
        self.bp.add_url_rule("/", "index", self.index)
        self.bp.add_url_rule("/live", "live_parts", self.live_parts)
        self.bp.add_url_rule("/act/<action>", "act", self.act, methods=["POST"])
        self.bp.add_url_rule("/doc/<int:doc_id>", "document", self.document)
        self.bp.add_url_rule("/history", "history", self.history)

    def panels(self, fn):
        """Decorator: fn(run) -> extra template context for this console's index page."""
        self._panels = fn
        return fn

    # ---- guard ---------------------------------------------------------------------------
    @staticmethod
    def _pull_run_id(_endpoint, values):
        g.run_id = values.pop("run_id", None) if values else None

    @staticmethod
    def _push_run_id(_endpoint, values):
        if "run_id" not in values and getattr(g, "run_id", None) is not None:
            values["run_id"] = g.run_id

    @login_required
    def _guard(self):
        run = db.session.get(Run, g.run_id)
        if run is None:
            abort(404)
        zones.show_run(run)  # times in the zone of the run's class (practice: the lab's)
        roles = [s.role for s in run.seats if s.user_id == current_user.id]
        g.run, g.role, g.my_roles = run, self.role, roles
        g.readonly = self.role not in roles
        if g.readonly and not access.may_watch_console(current_user, run):
            abort(403)
        elif request.method == "POST" and too_fast(run, self.role, current_user.id):
            return slow_down()

    # ---- pages ---------------------------------------------------------------------------
    def index(self):
        def page():
            run = g.run
            context = {"inbox": inbox(run, self.role), "history": history(run, self.role, 8),
                       "countdown": countdown(run), "stopped": stopped_messages(),
                       "gd": guide(run, self.role), **common_context(run)}
            context.update(self._panels(run))
            return render_template("roles/console.html", **context)
        return steady(g.run, page)

    def live_parts(self):
        """Everything a console refreshes when its run moved, in one answer (one request per
        change instead of one per part), with the run's last event they show."""
        def parts():
            run, context = g.run, common_context(g.run)
            return dict(
                inbox=render_template("roles/_inbox.html", inbox=inbox(run, self.role),
                                      **context),
                panels=render_template(f"roles/panels/{self.role}.html", **context,
                                       **self._panels(run)),
                history=render_template("roles/_history_items.html",
                                        events=history(run, self.role, 8)),
                guide=render_template("_partials/guide_body.html", gd=guide(run, self.role)))
        answer = steady(g.run, parts)
        return jsonify(last=g.run.last_event_id, parts=answer)

    def history(self):
        return render_template("roles/history.html", events=history(g.run, self.role, 500))

    def document(self, doc_id: int):
        doc = db.session.get(Document, doc_id)
        if doc is not None and doc.run_id != g.run.id:
            return after_reset(g.run, doc, self.role)
        if doc is None:
            abort(404)
        return render_template("roles/document.html", doc=doc, **common_context(g.run),
                               **document_context(g.run, doc, self.role))

    def act(self, action: str):
        if g.readonly:
            abort(403)
        spec = registry.get(action)
        if spec is None:
            abort(404)
        doc_id = document_id(request.form.get("doc"))
        answer = not_running(g.run, self._back())
        if answer is not None:
            return answer
        try:
            params = parse_params(spec, request.form)
            event = perform(g.run.id, Actor(self.role, "student", current_user.id), action,
                            doc_id, params, request_key=request_key())
        except DomainError as error:
            return refused(error, self._back(), doc=doc_id)
        message = done_message(event)
        if wants_json():
            return jsonify(ok=True, message=message, event=event.id, result=event.result)
        flash(message, "success")
        return redirect(self._back())

    def _back(self) -> str:
        """Where the form came from: the document page (its `next` field), else the console."""
        return safe_next(request.form.get("next"), url_for(f"{self.role}.index"))


# ---- answers to a console's POST (post/redirect/get) ---------------------------------------
# A refused POST never re-renders the page: it flashes the reason and redirects (303) back to
# where the form came from, so reloading that page is a GET and sends nothing again. Requests
# that ask for JSON get the refusal as JSON with its 4xx status instead.

FAILED_FORM = "failed_form"


def request_key() -> str | None:
    """The form's one-time key, when it looks like one (lab/once.py; the engine binds it to the
    sender)."""
    return once.form_key()


def document_id(value: str | None) -> int | None:
    """The form's document id; None when it is missing or no id at all (letters, a sign, more
    digits than any id has): the engine answers "no such document in this run"."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and int(value) <= MAX_ID:
        return int(value)
    return None


# ---- too many actions from one seat ---------------------------------------------------------
# A flood of clicks (or a script) from one seat is stopped at the door: after SEAT_ACTIONS
# actions (accepted or refused) in SEAT_WINDOW seconds the seat's POSTs are answered 429 until
# the window moves on. Counted in the event log, so it holds across worker processes; nothing
# is performed or recorded, so it costs the group nothing.

SEAT_ACTIONS = 20
SEAT_WINDOW = 10  # seconds


def too_fast(run: Run, role: str, user_id: int) -> bool:
    limit = current_app.config.get("SEAT_ACTIONS_PER_WINDOW", SEAT_ACTIONS)
    if not limit:
        return False
    since = utcnow() - timedelta(seconds=SEAT_WINDOW)
    recent = db.session.scalar(select(func.count(Event.id)).where(
        Event.run_id == run.id, Event.user_id == user_id, Event.role == role,
        Event.at >= since))
    return recent >= limit


def slow_down():
    """The answer to a seat over its limit: 429 with Retry-After; nothing was done."""
    message = _("Too many actions from this seat in a short time: wait %(n)s seconds and try "
                "again. Nothing was done, and this costs you nothing.", n=SEAT_WINDOW)
    headers = {"Retry-After": str(SEAT_WINDOW)}
    if wants_json():
        return jsonify(ok=False, error=message), 429, headers
    return render_template("error.html", code=429, message=message), 429, headers


def refused(error: DomainError, back: str, *, doc: int | None = None, **match):
    """Answer a refused POST: JSON with the error's status, or flash the reason and redirect
    (303) to `back`. The failed form is kept in the session for the next page (base.html reads
    it once) so that page can mark the field: the form is the one posted to this URL (with this
    document, and the hidden fields in `match`, e.g. sku)."""
    if wants_json():
        return jsonify(ok=False, error=error.message, field=error.field), error.status
    if isinstance(error, AlreadyDone):  # a double click: the first one did it
        flash(error.message, "warning")
        return redirect(back, 303)
    run = db.session.get(Run, g.run.id) if getattr(g, "run", None) is not None else None
    if run is not None and run.status != "running":  # paused or stopped meanwhile
        return not_running(run, back)
    flash(error.message, "danger")
    session[FAILED_FORM] = {"path": request.script_root + request.path, "field": error.field,
                            "action": request.view_args.get("action") if request.view_args
                            else None, "doc": doc,
                            **{k: str(v) for k, v in match.items() if v is not None}}
    return redirect(back, 303)


def after_reset(run: Run, doc: Document, role: str):
    """A document page opened before the instructor reset the run (the document now belongs to
    the run's archive): the same document as the run is now, or the console if the reset undid
    it. Any other run's document is not found."""
    archive = db.session.get(Run, doc.run_id)
    if archive is None or archive.archived_from_id != run.id:
        abort(404)
    same = db.session.scalar(select(Document).where(Document.run_id == run.id,
                                                    Document.number == doc.number))
    if same is None:
        flash(_("Your instructor reset the run to before %(number)s existed.", number=doc.number),
              "warning")
        return redirect(url_for(f"{role}.index"), 303)
    flash(_("Your instructor reset the run: this is %(number)s as it is now.", number=doc.number),
          "warning")
    return redirect(url_for(f"{role}.document", doc_id=same.id), 303)


def stopped_messages() -> dict[str, str]:
    """What a console says while its run is not running, by status (the banner, live.js and the
    answer to a click)."""
    return {"paused": _("Paused by the instructor: nothing can be done until the run resumes."),
            "finished": _("This run has ended: nothing more can be done in it."),
            "ready": _("This run has not started yet: wait for the instructor to start it.")}


def not_running(run: Run, back: str):
    """The answer to a POST on a run that is not running (a message, no mistake: nothing is
    performed, so nothing is recorded), or None when it runs."""
    if run.status == "running":
        return None
    message = stopped_messages().get(run.status) or stopped_messages()["finished"]
    if wants_json():
        return jsonify(ok=False, error=message, status=run.status), 409
    flash(message, "warning")
    return redirect(back, 303)


def steady(run: Run, render, tries: int = 3):
    """render() with every part of the page from one state of the run. A page reads the run in
    several queries (inbox, panels, guide); an action that lands between two of them (another
    student's, a bot's) would show a guide step whose form the inbox does not have yet. Every
    change moves the run's last event in its own transaction: when that moved while rendering,
    render again from what is there now."""
    for _attempt in range(tries):
        seen = _last_event(run.id)
        if seen != run.last_event_id:
            db.session.expire_all()  # the run and what the page loaded before: read them again
        answer = render()
        if _last_event(run.id) == seen:
            return answer
    return answer


def _last_event(run_id: int) -> int | None:
    return db.session.scalar(select(Run.last_event_id).where(Run.id == run_id))


def common_context(run: Run) -> dict:
    """What every console template may need: the run's vendors (for vendor selects)."""
    vendors = db.session.scalars(select(Party).where(Party.run_id == run.id,
                                                     Party.kind == "vendor")
                                 .order_by(Party.id)).all()
    return {"vendors": [{"key": v.key.removeprefix("vendor:"), "name": v.name}
                        for v in vendors]}


def countdown(run: Run) -> int | None:
    """Seconds left of the run's time limit, or None without one (the poll answers the same)."""
    return run.seconds_left()


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def done_message(event: Event) -> str:
    number = (event.result or {}).get("number") or (event.document.number if event.document
                                                    else "")
    return _("Done: %(action)s %(number)s.", action=action_label(event.action), number=number)


def parse_params(action: registry.Action, form) -> dict:
    """Form fields → the action's raw inputs (the engine converts and checks them). Raises
    InvalidInput for a lines form where nothing is picked (see parse_lines)."""
    params = {}
    for spec in action.inputs:
        if spec.kind == "lines":
            lines = parse_lines(form)
            if lines:
                params["lines"] = lines
        elif spec.name in form:
            params[spec.name] = form.get(spec.name)
    return params


def parse_lines(form) -> list[dict]:
    """Repeated sku/qty fields → [{sku, qty}]. A form that lists every line of a document with a
    quantity box each (a return on an order) marks itself `lines_pick`: there a quantity of 0
    leaves the line out, and leaving every line out is refused (sending no lines at all would
    mean "all of them" to the engine)."""
    skus, qtys = form.getlist("sku"), form.getlist("qty")
    # A product sent without its quantity reaches the engine (and is refused there).
    lines = [{"sku": s, "qty": q} for s, q in zip_longest(skus, qtys, fillvalue="")
             if s.strip()]
    if form.get("lines_pick"):
        lines = [line for line in lines if line["qty"].strip().lstrip("0")]  # not 0, 00 or empty
        if not lines:
            raise InvalidInput(N_("Give a quantity for at least one product."), "lines")
    return lines


# ---- queries shared by the consoles ---------------------------------------------------------

def inbox(run: Run, role: str) -> list[InboxRow]:
    """Documents of this run in a state where this role has an action, with what blocks each."""
    actions = [a for a in registry.actions_for(role, run.mode) if a.on]
    if not actions:
        return []
    condition = or_(*(and_(Document.kind == a.on, Document.state.in_(a.sources(run.mode)))
                      for a in actions))
    docs = db.session.scalars(select(Document).where(Document.run_id == run.id, condition)
                              .order_by(Document.id)
                              # what the rows show and the checks read (a shipment's order)
                              .options(joinedload(Document.product),
                                       selectinload(Document.parent)))
    rows = []
    # A student's view (the script's rules apply) without a seat lookup per row.
    actor = Actor(role, "viewer")
    for doc in docs:
        options = []
        for action in actions:
            if action.on == doc.kind and doc.state in action.sources(run.mode):
                refusal = check(run, actor, action.name, doc)
                # Shown when possible, or waiting for something that comes first; hidden when
                # done already or when it simply does not apply to this document.
                if refusal is None or getattr(refusal, "need", None) is not None:
                    options.append((action, refusal))
        if options:
            rows.append(InboxRow(doc, options))
    return rows


def history(run: Run, role: str, limit: int) -> list[Event]:
    return list(db.session.scalars(
        select(Event).where(Event.run_id == run.id, Event.role == role)
        .options(selectinload(Event.user), selectinload(Event.document))
        .order_by(Event.id.desc()).limit(limit)))


def case_documents(run: Run, doc: Document) -> list[Document]:
    if doc.case_id is None:
        return [doc]
    return list(db.session.scalars(select(Document).where(
        Document.run_id == run.id, Document.case_id == doc.case_id).order_by(Document.id)))


def document_context(run: Run, doc: Document, role: str) -> dict:
    events = list(db.session.scalars(select(Event).where(Event.run_id == run.id,
                                                         Event.document_id == doc.id)
                                     .order_by(Event.id)))
    actions = [(a, check(run, Actor(role, "viewer"), a.name, doc))
               for a in registry.actions_on(doc.kind, doc.state, run.mode) if a.role == role]
    actions = [(a, r) for a, r in actions if r is None or getattr(r, "need", None) is not None]
    from .queries import party
    context = {"case": case_documents(run, doc), "events": events, "actions": actions,
               "seller": party(run, "company"), "buyer": party(run, "buyer")}
    if doc.kind == "contract":
        from lab.engine.actions.b2b import verify_contract
        context["verified"] = verify_contract(doc, run)
    return context
