"""`flask --app run lab …`: check scenario files, autoplay one headless, seed the demo."""
import json
import os
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale

lab_cli = AppGroup("lab", help="ecomlab commands: check, autoplay, play, demo, create-admin, "
                                "translations, verify, export, import, cleanup.")


def _cli_locale() -> str:
    """The language of the terminal (LC_ALL, LANG) when the lab has it, else English."""
    from .i18n import LANGUAGES, SOURCE_LANGUAGE
    lang = (os.environ.get("LC_ALL") or os.environ.get("LANG") or "")[:2].lower()
    return lang if lang in LANGUAGES else SOURCE_LANGUAGE


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
    scenario = _load_or_exit(file)
    result = autoplay(scenario)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_result(result)
    sys.exit(0 if result["completed"] else 1)


def _load_or_exit(file):
    from .scenario import ScenarioError, load_file
    try:
        return load_file(file)
    except ScenarioError as error:
        with force_locale(_cli_locale()):
            for line in error.lines():
                click.echo(line, err=True)
        sys.exit(2)


def autoplay(scenario, moves: list | None = None) -> dict:
    """Play a scenario in a private in-memory database with bots in every role (and, with
    moves, the scripted student moves of `lab play`)."""
    from sqlalchemy.pool import StaticPool

    from . import create_app, headless
    from .extensions import db
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": StaticPool,
                                      "connect_args": {"check_same_thread": False}},
        "SECRET_KEY": current_app.config["SECRET_KEY"] if current_app else "autoplay",
    })
    with app.app_context():
        db.create_all()
        with force_locale(_cli_locale()):
            if moves is None:
                return headless.autoplay(scenario)
            return headless.play(scenario, moves)


def _print_result(result) -> None:
    click.echo(f"{result['scenario']}: {'completed' if result['completed'] else 'NOT completed'}"
               f", score {result['score']} / {result['max_score']}")
    for move in result.get("moves", []):
        verdict = "accepted" if move["accepted"] else f"refused: {move['message']}"
        click.echo(f"  move at {move['at']}: {move['as']} {move['action']} — {verdict}")
    for step in result["steps"]:
        mark = {"met": "✓", "missed": "✗", "skipped": "–"}.get(step["status"], "·")
        reason = f"  {step['reason']}" if step.get("reason") else ""
        click.echo(f"  {mark} {step['id']:<20} {step['role']:<11} {step['action']:<24} "
                   f"{step['points']}/{step['max_points']}{reason}")
    for loss in result.get("losses", []):
        click.echo(f"  −{loss['points']}: {loss['reason']}")
    for line in result.get("stuck", []):
        click.echo(f"  stuck: {line}")


MOVE_KEYS = {"at", "as", "action", "with", "on"}


def read_moves(path, scenario) -> list[dict]:
    """A MOVES file: a YAML list of {at, as, action, with?, on?}; every problem at once."""
    import yaml

    from .engine import registry
    from .models.run import ROLES
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise click.BadParameter(f"{path}: cannot read it: {error}") from error
    if not isinstance(data, list) or not data:
        raise click.BadParameter(f"{path}: must be a non-empty YAML list of moves")
    ids = {s.id for s in scenario.steps}
    problems = []
    for n, move in enumerate(data, 1):
        if not isinstance(move, dict):
            problems.append(f"move #{n}: must be a mapping {{at, as, action, with}}")
            continue
        for key in move:
            if key not in MOVE_KEYS:
                problems.append(f"move #{n}: unknown field {key!r}")
        if str(move.get("at")) not in ids:
            problems.append(f"move #{n}: at: no step {move.get('at')!r} in {scenario.id}")
        if move.get("as") not in (*ROLES, "instructor"):
            problems.append(f"move #{n}: as: must be a role or instructor")
        name = move.get("action")
        if registry.get(name) is None and not (move.get("as") == "instructor"
                                               and name in ("pause", "resume")):
            problems.append(f"move #{n}: action: unknown action {name!r}")
        if "with" in move and not isinstance(move["with"], dict):
            problems.append(f"move #{n}: with: must be a mapping")
        move["at"] = str(move.get("at"))
    if problems:
        raise click.BadParameter("\n".join(problems))
    return data


@lab_cli.command("play")
@click.argument("scenario_file", type=click.Path(dir_okay=False))
@click.argument("moves_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def play_command(scenario_file, moves_file, as_json):
    """Play a scenario with scripted student moves (bots play everything else).

    Exit 0 when the run completed, 1 when it did not, 2 when a file is invalid."""
    scenario = _load_or_exit(scenario_file)
    try:
        moves = read_moves(moves_file, scenario)
    except click.BadParameter as error:
        click.echo(error.message, err=True)
        sys.exit(2)
    result = autoplay(scenario, moves)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_result(result)
    sys.exit(0 if result["completed"] else 1)


@lab_cli.command("demo")
def demo_command():
    """Create (or refresh) the demo class, runs and accounts, and print the logins."""
    from .demo import prepare_and_print
    prepare_and_print(current_app)


@lab_cli.command("translations")
def translations_command():
    """Extract every translatable string into messages.pot and update the catalog of each
    language in LANGUAGES (lab/i18n.py) but SOURCE_LANGUAGE, the msgids' own (a new
    language's catalog is made); then translate the new entries in
    lab/translations/<language>/LC_MESSAGES/messages.po."""
    from babel.messages.frontend import CommandLineInterface

    from . import ROOT
    from .i18n import TRANSLATIONS, catalog_path, translated_languages
    pot = TRANSLATIONS / "messages.pot"
    cli = CommandLineInterface()
    here = os.getcwd()
    os.chdir(ROOT)  # locations relative to the repository
    try:
        # --ignore-dirs: only hidden folders (the default also skips _macros/ and _partials/).
        cli.run(["pybabel", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "--no-wrap",
                 "--ignore-dirs", ".*",
                 "--sort-by-file", "--project", "ecomlab", "-o", str(pot), "."])
    finally:
        os.chdir(here)
    for lang in translated_languages():
        command = "update" if catalog_path(lang).exists() else "init"
        cli.run(["pybabel", command, "-i", str(pot), "-d", str(TRANSLATIONS), "-l", lang,
                 "--no-wrap"])
    click.echo(f"Catalogs updated in {TRANSLATIONS}.")


@lab_cli.command("create-admin")
@click.argument("username")
@click.option("--name", default="", help="Display name (default: the username).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of stdin instead of asking twice.")
def create_admin_command(username, name, password_stdin):
    """Create a lab admin (also an instructor): the first account of a class start.

    Asks for the password twice (at least 8 characters). Exit 1 when the username is taken."""
    from sqlalchemy import inspect

    from .auth.accounts import create_user
    from .extensions import db
    from .models import User, find_user
    from .models.user import clean_username
    username = clean_username(username)
    if not username or len(username) > 64:
        click.echo("A username needs 1 to 64 characters.", err=True)
        sys.exit(1)
    if not inspect(db.engine).has_table(User.__tablename__):
        click.echo("The database has no tables yet: run ./scripts/run.sh once, or "
                   ".venv/bin/flask --app run db upgrade, then try again.", err=True)
        sys.exit(1)
    taken = find_user(username)  # any case or width: one account per name
    if taken is not None:
        click.echo(f"The username {taken.username!r} exists already: choose another one (the "
                   f"existing account was not changed).", err=True)
        sys.exit(1)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        click.echo("The password is too short: at least 8 characters. Nothing was created.",
                   err=True)
        sys.exit(1)
    user = create_user(username, password, name=name.strip() or username, admin=True,
                       instructor=True)
    db.session.commit()
    click.echo(f"Created lab admin {user.username!r} ({user.name}), also an instructor: log in "
               f"at /auth/login and create the instructors' accounts on /classroom/.")


# ---- consistency check, backup and restore (lab/verify.py, lab/backup.py) ---------------------

def _needs_tables() -> None:
    from sqlalchemy import inspect

    from .extensions import db
    if not inspect(db.engine).has_table("run"):
        click.echo("The database has no tables yet: run ./scripts/run.sh once, or "
                   ".venv/bin/flask --app run db upgrade, then try again.", err=True)
        sys.exit(2)


@lab_cli.command("cleanup")
def cleanup_command():
    """Delete the temporary accounts ("try a scenario now") made more than a day ago, with their
    practice runs and all they own. Also done whenever a new temporary account is made; run it
    from cron (e.g. hourly) on a lab where nobody tries for days."""
    from .auth.temporary import remove_expired
    from .extensions import db
    _needs_tables()
    removed = remove_expired()
    db.session.commit()
    click.echo(f"Removed {removed} temporary account(s) older than a day, with their runs.")


@lab_cli.command("verify")
@click.option("--run", "run_ids", type=int, multiple=True, help="Check only this run (repeat).")
def verify_command(run_ids):
    """Check that the database adds up: ledgers equal balances, stock cards equal stock, one
    event per accepted action, documents made by actions, nothing pointing into another run.

    Exit 0 when consistent, 1 on any difference (each one printed)."""
    from .verify import snapshot, verify
    _needs_tables()
    with snapshot() as session:
        report = verify(session, run_ids or None)
    for line in report.lines():
        click.echo(line)
    sys.exit(0 if report.ok else 1)


@lab_cli.command("export")
@click.argument("class_id", metavar="CLASS", type=int)
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def export_command(class_id, file):
    """Write a class (roster with password hashes, groups, assignments, runs with their worlds,
    events, adjustments, reflections) to FILE, a JSON file (gzip-compressed when FILE ends in
    .gz) readable only by you. CLASS is the class's id (its /classroom/ID page)."""
    from .backup import BackupError, export_class, write_file
    _needs_tables()
    try:
        data = export_class(class_id)
        write_file(data, file)
    except BackupError as error:
        for line in error.lines:
            click.echo(line, err=True)
        sys.exit(1)
    except OSError as error:
        click.echo(f"{file}: cannot be written ({error.strerror}).", err=True)
        sys.exit(1)
    click.echo(f"Exported class {class_id} ({data['class']['name']}) to {file}: "
               + ", ".join(f"{t} {n}" for t, n in data["counts"].items()) + ".")


@lab_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--reuse-accounts", is_flag=True,
              help="Attach the class to accounts of the same username that this database has "
                   "already (their passwords stay as they are) instead of refusing.")
@click.option("--allow-differences", is_flag=True,
              help="Import even when the class does not pass lab verify (restore it as it was).")
def import_command(file, reuse_accounts, allow_differences):
    """Restore a class exported with lab export into this database, in one transaction: it
    gets new ids next to the classes here; nothing changes when anything is refused.

    Exit 0 when imported, 1 when refused (every reason printed)."""
    from .backup import BackupError, import_class, read_file
    _needs_tables()
    try:
        result = import_class(read_file(file), reuse_accounts=reuse_accounts,
                              allow_differences=allow_differences)
    except BackupError as error:
        for line in error.lines:
            click.echo(line, err=True)
        click.echo("Nothing was imported.", err=True)
        sys.exit(1)
    for line in result.lines():
        click.echo(line)
