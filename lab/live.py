"""Live without sockets: consoles poll "has anything happened in my run since event N?".

When nothing happened the answer costs one small query; the bots get their turn here too."""
from flask import Blueprint, abort, jsonify, request
from flask_login import current_user, login_required
from sqlalchemy import select

from . import bots
from .extensions import db
from .models import Run, Seat

bp = Blueprint("live", __name__, url_prefix="/live")


def can_watch(run: Run) -> bool:
    if current_user.is_admin or run.owner_id == current_user.id:
        return True
    if current_user.is_instructor and run.group_id is not None:
        from .classroom.access import instructor_owns_run
        return instructor_owns_run(current_user, run)
    return db.session.scalar(select(Seat.id).where(Seat.run_id == run.id,
                                                   Seat.user_id == current_user.id)) is not None


@bp.route("/<int:run_id>")
@login_required
def poll(run_id):
    run = db.session.get(Run, run_id)
    if run is None or not can_watch(run):
        abort(404)
    since = request.args.get("since", type=int, default=0)
    if bots.due(run):
        bots.maybe_tick(run)
        run = db.session.get(Run, run_id)
    # status and the seconds left: a console shows "paused"/"ended", disables its buttons and
    # stops (or restarts from `left`) its countdown without waiting for a reload.
    return jsonify(last=run.last_event_id, status=run.status,
                   changed=run.last_event_id != since, left=run.seconds_left())
