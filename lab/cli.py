"""`flask --app run lab …`: check scenario files, autoplay one headless, seed the demo."""
import json
import os
import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale

lab_cli = AppGroup("lab", help="ecomlab commands: check, autoplay, demo.")


def _cli_locale() -> str:
    lang = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "zh" if lang.lower().startswith("zh") else "en"


@lab_cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def check_command(files):
    """Validate scenario files: exit 0 when all are valid, 2 when any is not."""
    from .scenario import ScenarioError, load_file, validate
    bad = 0
    for path in files:
        try:
            scenario = load_file(path)
        except ScenarioError as error:
            bad += 1
            with force_locale(_cli_locale()):
                for line in error.lines():
                    click.echo(line, err=True)
            continue
        click.echo(f"{path}: ok ({scenario.id}, {len(scenario.steps)} steps, "
                   f"max score {scenario.max_score:g})")
        _, notes = validate(scenario.text)
        with force_locale(_cli_locale()):
            for note in notes:
                click.echo(f"{path}: {note}", err=True)
    sys.exit(2 if bad else 0)


@lab_cli.command("autoplay")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def autoplay_command(file, as_json):
    """Play a scenario headless, every role a bot; print the grade.

    Exit 0 when the run completed, 1 when it did not, 2 when the file is invalid."""
    from .scenario import ScenarioError, load_file
    try:
        scenario = load_file(file)
    except ScenarioError as error:
        with force_locale(_cli_locale()):
            for line in error.lines():
                click.echo(line, err=True)
        sys.exit(2)
    with force_locale(_cli_locale()):
        result = autoplay(scenario)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{result['scenario']}: {'completed' if result['completed'] else 'NOT completed'}"
                   f", score {result['score']} / {result['max_score']}")
        for step in result["steps"]:
            mark = "✓" if step["met"] else "✗"
            click.echo(f"  {mark} {step['id']:<20} {step['role']:<11} {step['action']:<24} "
                       f"{step['points']}/{step['max_points']}")
        for line in result.get("stuck", []):
            click.echo(f"  stuck: {line}")
    sys.exit(0 if result["completed"] else 1)


def autoplay(scenario) -> dict:
    """Play a scenario in a private in-memory database with bots in every role."""
    from sqlalchemy.pool import StaticPool

    from . import create_app
    from .extensions import db
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": StaticPool,
                                      "connect_args": {"check_same_thread": False}},
        "SECRET_KEY": current_app.config["SECRET_KEY"] if current_app else "autoplay",
    })
    with app.app_context():
        db.create_all()
        return play_headless(scenario)


def play_headless(scenario) -> dict:
    """Play a scenario to its end in the current database, advancing the clock over at_minute
    waits; return the grade as JSON (plus 'stuck': why unmet steps could not be done)."""
    from . import bots
    from .extensions import db
    from .runs import create_run, grade_run
    run = create_run(scenario, kind="autoplay", bot_delay=0, start=True)
    for _ in range(500):
        if bots.tick(run.id, ignore_delay=True):
            continue
        run = db.session.get(type(run), run.id)
        graded = grade_run(run)
        waits = [s.at_minute for s in graded.next_steps() if s.at_minute is not None]
        elapsed = run.elapsed().total_seconds() / 60
        later = [m for m in waits if m > elapsed]
        if graded.completed or not later:
            break
        run.started_at -= timedelta(minutes=min(later) - elapsed + 0.01)
        db.session.commit()
    run = db.session.get(type(run), run.id)
    graded = grade_run(run)
    result = graded.to_json()
    result["stuck"] = _why_stuck(run, graded)
    return result


def _why_stuck(run, graded) -> list[str]:
    from . import bots
    from .engine import Actor, check, registry
    lines = []
    cases = graded.case_ids()
    for step in graded.next_steps():
        doc = bots.document_for(run, step, cases)
        if doc is False:
            lines.append(f"{step.id}: no document to {step.action} yet")
            continue
        params = bots.with_defaults(run, registry.get(step.action), doc, step.params)
        refusal = check(run, Actor(step.role, "bot"), step.action, doc, params)
        if refusal is not None:
            lines.append(f"{step.id}: {refusal}")
    return lines


@lab_cli.command("demo")
def demo_command():
    """Create (or refresh) the demo class, runs and accounts, and print the logins."""
    from .demo import prepare_and_print
    prepare_and_print(current_app)


@lab_cli.command("translations")
def translations_command():
    """Extract every translatable string and update the zh and en catalogs (then translate the
    new entries in lab/translations/zh/LC_MESSAGES/messages.po)."""
    from babel.messages.frontend import CommandLineInterface

    from . import ROOT
    from .i18n import TRANSLATIONS
    pot = TRANSLATIONS / "messages.pot"
    cli = CommandLineInterface()
    here = os.getcwd()
    os.chdir(ROOT)  # locations relative to the repository
    try:
        cli.run(["pybabel", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "--no-wrap",
                 "--sort-by-file", "--project", "ecomlab", "-o", str(pot), "."])
    finally:
        os.chdir(here)
    for lang in current_app.config["LANGUAGES"]:
        po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        command = "update" if po.exists() else "init"
        cli.run(["pybabel", command, "-i", str(pot), "-d", str(TRANSLATIONS), "-l", lang,
                 "--no-wrap"])
    click.echo(f"Catalogs updated in {TRANSLATIONS}.")
