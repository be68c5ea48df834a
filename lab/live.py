"""Live without sockets: consoles poll "has anything happened in my run since event N?".

When nothing happened the answer costs one small query; the bots get their turn here too."""
from flask import Blueprint, jsonify, request
from flask_login import login_required

from . import bots
from .classroom.access import watchable_run_or_404
from .extensions import db
from .models import Run

bp = Blueprint("live", __name__, url_prefix="/live")


@bp.route("/<int:run_id>")
@login_required
def poll(run_id):
    run = watchable_run_or_404(run_id)  # who may watch: lab/classroom/access.py
    since = request.args.get("since", type=int, default=0)
    if bots.due(run):
        bots.maybe_tick(run)
        run = db.session.get(Run, run_id)
    # status and the seconds left: a console shows "paused"/"ended", disables its buttons and
    # stops (or restarts from `left`) its countdown without waiting for a reload.
    return jsonify(last=run.last_event_id, status=run.status,
                   changed=run.last_event_id != since, left=run.seconds_left())
