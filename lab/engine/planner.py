"""What must come first. When an action does not fit a document's state, the planner walks the
registry's state graph to the first action on the way and names it and its role, so a refusal
tells the student what to do ("not yet: first the buyer pays")."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sqlalchemy import select

from ..errors import NotAllowed, N_
from ..extensions import db
from ..models import Document
from . import registry


@dataclass(frozen=True)
class Need:
    """An action that must be performed first, on a document (None: starts something new)."""
    action: str
    doc_id: int | None

    @property
    def role(self) -> str:
        return registry.get(self.action).role


def _edges(kind: str, mode: str):
    for action in registry.REGISTRY.values():
        if action.alternative or mode not in action.modes:
            continue
        if action.on == kind and action.to_state:
            yield action, action.plan_sources(mode), action.to_state
        if action.also and action.also[0] == kind:
            yield action, action.also[1], action.also[2]


def first_step(kind: str, mode: str, state: str, targets: tuple[str, ...]) -> str | None:
    """The first action on the shortest way from state to any of targets, or None."""
    seen, queue = {state}, deque([(state, None)])
    while queue:
        current, first = queue.popleft()
        if current in targets and first:
            return first
        for action, sources, to_state in _edges(kind, mode):
            if current in sources and to_state not in seen:
                seen.add(to_state)
                queue.append((to_state, first or action.name))
    return None


def doc_for(run_id: int, doc: Document, action_name: str) -> Document | None:
    """The document an action would work on, starting from a document of its case."""
    action = registry.get(action_name)
    if action.on == doc.kind or action.on is None:
        return doc if action.on else None
    return db.session.scalar(select(Document).where(
        Document.run_id == run_id, Document.case_id == doc.case_id, Document.kind == action.on,
        Document.state.in_(action.sources(doc_mode(run_id)))).order_by(Document.id.desc()).limit(1))


def doc_mode(run_id: int) -> str:
    from ..models import Run
    return db.session.get(Run, run_id).mode


def need(run_id: int, doc: Document | None, action_name: str, msg: str, **args) -> NotAllowed:
    """A refusal that names what must come first: action_name, on doc's case."""
    target = doc_for(run_id, doc, action_name) if doc is not None else None
    action = registry.get(action_name)
    return NotAllowed(msg, need=Need(action_name, target.id if target else None),
                      first=action_name, first_role=action.role, **args)


def not_yet(run, doc: Document, action: registry.Action) -> NotAllowed:
    step = first_step(doc.kind, run.mode, doc.state, action.sources(run.mode))
    if step is None:
        return NotAllowed(N_("%(number)s is %(state)s: “%(action)s” is no longer possible."),
                          number=doc.number, state=doc.state, action=action.name)
    return need(run.id, doc, step,
                N_("Not yet: %(number)s is %(state)s. First %(first_role)s must "
                   "“%(first)s”."), number=doc.number, state=doc.state)
