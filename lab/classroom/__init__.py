"""The instructor's classroom: classes and rosters, groups and roles, assignments and their
runs, injections, the live board, grades, debrief replay and lab reports."""
from flask import Blueprint

bp = Blueprint("classroom", __name__, url_prefix="/classroom")

from . import views  # noqa: E402,F401  (routes)
from .home import classes_of  # noqa: E402  (after bp, like the routes)

# The students' home page (lab/views.py) shows their classes with this.
bp.add_app_template_global(classes_of, "student_classes")
