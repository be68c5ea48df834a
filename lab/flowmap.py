"""The flow map: a scenario's steps as a swimlane diagram, drawn as SVG on the server.

One lane per role (in the order roles first appear in the script), one box per step in its
role's lane, columns by dependency depth, arrows for dependencies; boxes coloured done / next /
pending, with the number of refused attempts on each step's action.

A long script wraps: at most BAND_COLUMNS columns side by side (the width of a 1366 px screen),
the next columns in another band of lanes below, so no step hides off to the right. An arrow
from a step in an earlier band comes in as a short arrow marked with that step's number."""
from __future__ import annotations

from flask_babel import gettext
from markupsafe import Markup, escape

from .engine.labels import action_label, role_label

LANE_W, BOX_W, BOX_H, COL_W, LANE_H, PAD = 120, 142, 46, 160, 64, 10
BAND_COLUMNS, BAND_GAP = 7, 26  # 120 + 7 × 160 + 10 = 1250 px: fits a 1366 px screen
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
    bands = -(-columns // BAND_COLUMNS)
    width = LANE_W + min(columns, BAND_COLUMNS) * COL_W + PAD
    band_h = len(lanes) * LANE_H + BAND_GAP
    height = bands * band_h - BAND_GAP + PAD
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="flowmap-svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(gettext("Flow map"))}" font-family="sans-serif" '
           f'font-size="11" data-bands="{bands}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
           'fill="#6c757d"/></marker></defs>']
    for band in range(bands):
        top = band * band_h
        for i, role in enumerate(lanes):
            y = top + i * LANE_H
            fill = "#ffffff" if i % 2 else "#f1f3f5"
            kind = "lane" if band == 0 else "lane-more"  # one "lane" per role
            out.append(f'<g class="{kind}" data-role="{role}"><rect x="0" y="{y}" '
                       f'width="{width}" height="{LANE_H}" fill="{fill}"/><text x="8" '
                       f'y="{y + LANE_H / 2 + 4}" font-weight="bold">'
                       f'{escape(role_label(role, mode))}</text></g>')
        if bands > 1:
            part = escape(gettext("part %(n)s of %(of)s", n=band + 1, of=bands))
            out.append(f'<text x="{width - PAD}" y="{top + 12}" text-anchor="end" '
                       f'fill="#6c757d" class="band">{part}</text>')
        if band < bands - 1:
            line_y = top + len(lanes) * LANE_H + BAND_GAP / 2
            out.append(f'<line x1="0" y1="{line_y}" x2="{width}" y2="{line_y}" '
                       f'stroke="#adb5bd" stroke-dasharray="4 3"/>')

    def box(step_id):
        lane, column = position[step_id]
        band, column = divmod(column, BAND_COLUMNS)
        return LANE_W + column * COL_W, band * band_h + lane * LANE_H + (LANE_H - BOX_H) / 2

    numbers = {step.id: step.number for step in steps}
    for step in steps:
        x2, y2 = box(step.id)
        for dep in step.deps:
            x1, y1 = box(dep)
            same_band = position[dep][1] // BAND_COLUMNS == position[step.id][1] // BAND_COLUMNS
            if x1 < x2 and same_band:
                out.append(f'<path d="M {x1 + BOX_W} {y1 + BOX_H / 2} C {x1 + BOX_W + 15} '
                           f'{y1 + BOX_H / 2}, {x2 - 15} {y2 + BOX_H / 2}, {x2} {y2 + BOX_H / 2}" '
                           f'fill="none" stroke="#6c757d" marker-end="url(#arrow)"/>')
            else:  # from another band (or from the right): a short arrow with the step's number
                mid = y2 + BOX_H / 2
                out.append(f'<path class="from" d="M {x2 - 16} {mid} L {x2} {mid}" fill="none" '
                           f'stroke="#6c757d" marker-end="url(#arrow)"/><text x="{x2 - 3}" '
                           f'y="{mid - 5}" text-anchor="end" fill="#6c757d" font-size="9">'
                           f'{numbers[dep]}</text>')
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
