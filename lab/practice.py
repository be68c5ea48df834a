"""Solo practice for self-learners."""
from flask import Blueprint

bp = Blueprint("practice", __name__, url_prefix="/practice")
