"""The instructor's classroom."""
from flask import Blueprint

bp = Blueprint("classroom", __name__, url_prefix="/classroom")


@bp.route("/")
def index():
    return "classroom"
