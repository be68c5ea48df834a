"""What the instructor's pages share: the double-click guard, the way back to the class page
with a message, and the report an upload leaves to read."""
from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ... import once
from ...models import Run
from .. import board, uploads


def sent_before() -> bool:
    """True when this form was handled already (a double click): say so, change nothing."""
    if once.claim():
        return False
    flash(_("Already done: this form was sent before."), "warning")
    return True


def to_class(class_id: int, message: str | None = None, category: str = "success",
             anchor: str | None = None, **kept):
    """Back to the class page, with a message; refusals answer 303 (See Other). `kept`: what
    the form had chosen (scenario=…, size=…), shown chosen again on the page."""
    if message:
        flash(message, category)
    response = redirect(url_for("classroom.show", class_id=class_id, _anchor=anchor,
                                **{k: v for k, v in kept.items() if v}))
    return (response, 303) if category == "danger" else response


def to_report(classroom, kind: str, filename: str, data: dict):
    """Keep what an upload left to read and show it on its own page (303 See Other)."""
    report = uploads.keep(classroom, current_user.id, kind, filename, data)
    return redirect(url_for("classroom.upload_report", class_id=classroom.id,
                            report_id=report.id), 303)


def group_number(run: Run):
    return board.group_numbers([run])[run.id]
