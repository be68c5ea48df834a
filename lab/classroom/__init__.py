"""The classroom: classes and rosters, groups and roles, assignments and their runs, injections,
the live board, repairs, grades, debrief replay and lab reports.

Services (one module per concept: rosters, groups, work, board, repair, grades, reports,
uploads, home) flush and raise DomainErrors; the pages are in views/ (one module per feature,
the student's apart from the instructor's), and access.py decides who may see what."""
from flask import Blueprint

bp = Blueprint("classroom", __name__, url_prefix="/classroom")
