"""The flow map: a scenario's steps as a swimlane diagram, drawn as SVG on the server.

One lane per role (in the order roles first appear in the script), one box per step in its
role's lane, columns by dependency depth, arrows for dependencies; boxes coloured done / next /
pending, with the number of refused attempts on each step's action."""
from __future__ import annotations

from flask_babel import gettext
from markupsafe import Markup, escape

from .engine.labels import action_label, role_label

LANE_W, BOX_W, BOX_H, COL_W, LANE_H, PAD = 130, 150, 46, 175, 64, 10
COLOURS = {"done": ("#d1e7dd", "#198754"), "next": ("#cfe2ff", "#0d6efd"),
           "pending": ("#f8f9fa", "#adb5bd")}


def points(n) -> str:
    return " · " + str(escape(gettext("%(n)s pt", n=n))) if n else ""


def _depths(steps) -> dict[str, int]:
    """Column of each step: one after its deepest dependency (validation forbids cycles)."""
    deps = {s.id: s.deps for s in steps}
    depth: dict[str, int] = {}

    def of(step_id: str) -> int:
        if step_id not in depth:
            depth[step_id] = 1 + max((of(d) for d in deps.get(step_id, [])), default=-1)
        return depth[step_id]

    for step in steps:
        of(step.id)
    return depth


def draw(scenario, grade, mode: str, refusals: dict[tuple[str, str], int] | None = None) -> Markup:
    steps = scenario.steps
    refusals = refusals or {}
    lanes: list[str] = []
    for step in steps:
        if step.role not in lanes:
            lanes.append(step.role)
    depth = _depths(steps)
    status = {r.id: "done" if r.met else "pending" for r in grade.steps}
    for step in grade.next_steps():
        status[step.id] = "next"
    # Steps sharing a lane and a column are stacked side by side in extra columns.
    taken: dict[tuple[int, int], int] = {}
    position = {}
    for step in steps:
        lane = lanes.index(step.role)
        column = depth[step.id]
        while (lane, column) in taken:
            column += 1
        taken[(lane, column)] = 1
        position[step.id] = (lane, column)
    columns = max((c for _, c in position.values()), default=0) + 1
    width = LANE_W + columns * COL_W + PAD
    height = len(lanes) * LANE_H + PAD
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="flowmap-svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="flow map" font-family="sans-serif" font-size="11">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
           'fill="#6c757d"/></marker></defs>']
    for i, role in enumerate(lanes):
        y = i * LANE_H
        fill = "#ffffff" if i % 2 else "#f1f3f5"
        out.append(f'<g class="lane" data-role="{role}"><rect x="0" y="{y}" width="{width}" '
                   f'height="{LANE_H}" fill="{fill}"/><text x="8" y="{y + LANE_H / 2 + 4}" '
                   f'font-weight="bold">{escape(role_label(role, mode))}</text></g>')

    def box(step_id):
        lane, column = position[step_id]
        return LANE_W + column * COL_W, lane * LANE_H + (LANE_H - BOX_H) / 2

    for step in steps:
        x2, y2 = box(step.id)
        for dep in step.deps:
            x1, y1 = box(dep)
            out.append(f'<path d="M {x1 + BOX_W} {y1 + BOX_H / 2} C {x1 + BOX_W + 15} '
                       f'{y1 + BOX_H / 2}, {x2 - 15} {y2 + BOX_H / 2}, {x2} {y2 + BOX_H / 2}" '
                       f'fill="none" stroke="#6c757d" marker-end="url(#arrow)"/>')
    for step in steps:
        x, y = box(step.id)
        fill, stroke = COLOURS[status[step.id]]
        label = escape(action_label(step.action))
        out.append(f'<g class="step {status[step.id]}" data-step="{escape(step.id)}">'
                   f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{3 if status[step.id] == "next" else 1.5}"/>'
                   f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">{step.number}. '
                   f'{label}</text><text x="{x + 8}" y="{y + 35}" fill="#6c757d">'
                   f'{escape(step.id)}{points(step.points)}'
                   f'</text>')
        missed = refusals.get((step.role, step.action), 0)
        if missed:
            out.append(f'<circle cx="{x + BOX_W - 10}" cy="{y + 10}" r="8" fill="#dc3545"/>'
                       f'<text x="{x + BOX_W - 10}" y="{y + 14}" fill="#fff" text-anchor="middle"'
                       f' class="refused">{missed}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))
