"""The lab as gunicorn serves it (`run:app`), plus two pages that measure the stack's floor:
`/bench/hello` (Flask answers a constant) and `/bench/row` (a minimal page of the same app
reading one row through Flask-SQLAlchemy). Both go through every layer the lab's own pages do
(sessions, security headers, rate limiter, Babel), so a lab page's latency over theirs is what
the lab itself costs. Served only by bench/class_bench.py: `gunicorn bench.floor_app:app`."""
from flask import render_template_string
from sqlalchemy import select

from lab.extensions import db
from lab.models import User
from run import app


@app.get("/bench/hello")
def bench_hello():
    return "hello"


@app.get("/bench/row")
def bench_row():
    name = db.session.scalar(select(User.name).order_by(User.id).limit(1))
    return render_template_string("<!doctype html><title>row</title><p>{{ name }}</p>", name=name)
