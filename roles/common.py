"""What every console shares: the seat guard, the inbox, the action endpoint, the document view,
the role's history and the live fragment. Views parse forms and call the engine; nothing here
decides a business rule."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

from flask import (Blueprint, abort, flash, g, jsonify, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from lab import once
from lab.engine import Actor, check, perform, registry
from lab.engine.labels import action_label
from lab.errors import AlreadyDone, DomainError
from lab.extensions import db
from lab.models import Document, Event, Party, Run
from lab.views import safe_next


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
        roles = [s.role for s in run.seats if s.user_id == current_user.id]
        g.run, g.role, g.my_roles = run, self.role, roles
        g.readonly = self.role not in roles
        if g.readonly:
            from lab.live import can_watch
            if not (current_user.is_instructor or current_user.is_admin) or not can_watch(run):
                abort(403)

    # ---- pages ---------------------------------------------------------------------------
    def index(self, error: DomainError | None = None, status: int = 200):
        run = g.run
        context = {"inbox": inbox(run, self.role), "history": history(run, self.role, 8),
                   "error": error, "countdown": countdown(run), **common_context(run)}
        context.update(self._panels(run))
        return render_template("roles/console.html", **context), status

    def live_parts(self):
        """Everything a console refreshes when its run moved, in one answer (one request per
        change instead of one per part)."""
        run, context = g.run, common_context(g.run)
        return jsonify(
            inbox=render_template("roles/_inbox.html", inbox=inbox(run, self.role), **context),
            panels=render_template(f"roles/panels/{self.role}.html", **context,
                                   **self._panels(run)),
            history=render_template("roles/_history_items.html",
                                    events=history(run, self.role, 8)),
            guide=render_template("_partials/guide_body.html"))

    def history(self):
        return render_template("roles/history.html", events=history(g.run, self.role, 500))

    def document(self, doc_id: int):
        doc = db.session.get(Document, doc_id)
        if doc is None or doc.run_id != g.run.id:
            abort(404)
        return render_template("roles/document.html", doc=doc, **common_context(g.run),
                               **document_context(g.run, doc, self.role))

    def act(self, action: str):
        if g.readonly:
            abort(403)
        spec = registry.get(action)
        if spec is None:
            abort(404)
        params = parse_params(spec, request.form)
        key = request.form.get("request_key", "")
        try:
            event = perform(g.run.id, Actor(self.role, "student", current_user.id), action,
                            request.form.get("doc", type=int), params,
                            request_key=key if once.KEY.match(key) else None)
        except DomainError as error:
            if wants_json():
                return jsonify(ok=False, error=error.message, field=error.field), error.status
            if isinstance(error, AlreadyDone):
                flash(error.message, "warning")
                return redirect(self._back())
            g.run = db.session.get(Run, g.run.id)
            return self.index(error=error, status=error.status)
        message = done_message(event)
        if wants_json():
            return jsonify(ok=True, message=message, event=event.id, result=event.result)
        flash(message, "success")
        return redirect(self._back())

    def _back(self) -> str:
        return safe_next(request.form.get("next"), url_for(f"{self.role}.index"))


def common_context(run: Run) -> dict:
    """What every console template may need: the run's vendors (for vendor selects)."""
    vendors = db.session.scalars(select(Party).where(Party.run_id == run.id,
                                                     Party.kind == "vendor")
                                 .order_by(Party.id)).all()
    return {"vendors": [{"key": v.key.removeprefix("vendor:"), "name": v.name}
                        for v in vendors]}


def countdown(run: Run) -> int | None:
    """Seconds left of the run's time limit, or None without one."""
    if not run.time_limit_minutes or not run.started_at:
        return None
    left = run.time_limit_minutes * 60 - run.elapsed().total_seconds()
    return max(0, int(left))


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def done_message(event: Event) -> str:
    number = (event.result or {}).get("number") or (event.document.number if event.document
                                                    else "")
    return _("Done: %(action)s %(number)s.", action=action_label(event.action), number=number)


def parse_params(action: registry.Action, form) -> dict:
    """Form fields → the action's raw inputs (the engine converts and checks them)."""
    params = {}
    for spec in action.inputs:
        if spec.kind == "lines":
            skus, qtys = form.getlist("sku"), form.getlist("qty")
            # A product sent without its quantity reaches the engine (and is refused there).
            lines = [{"sku": s, "qty": q} for s, q in zip_longest(skus, qtys, fillvalue="")
                     if s.strip()]
            if lines:
                params["lines"] = lines
        elif spec.name in form:
            params[spec.name] = form.get(spec.name)
    return params


# ---- queries shared by the consoles ---------------------------------------------------------

def inbox(run: Run, role: str) -> list[InboxRow]:
    """Documents of this run in a state where this role has an action, with what blocks each."""
    actions = [a for a in registry.actions_for(role, run.mode) if a.on]
    if not actions:
        return []
    condition = or_(*(and_(Document.kind == a.on, Document.state.in_(a.sources(run.mode)))
                      for a in actions))
    docs = db.session.scalars(select(Document).where(Document.run_id == run.id, condition)
                              .order_by(Document.id))
    rows = []
    actor = Actor(role, "bot")  # a dry run needs no seat lookup per row
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
    actions = [(a, check(run, Actor(role, "bot"), a.name, doc))
               for a in registry.actions_on(doc.kind, doc.state, run.mode) if a.role == role]
    actions = [(a, r) for a, r in actions if r is None or getattr(r, "need", None) is not None]
    from .queries import party
    context = {"case": case_documents(run, doc), "events": events, "actions": actions,
               "seller": party(run, "company"), "buyer": party(run, "buyer")}
    if doc.kind == "contract":
        from lab.engine.actions.b2b import verify_contract
        context["verified"] = verify_contract(doc, run)
    return context
