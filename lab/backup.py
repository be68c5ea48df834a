"""Backup and restore of one class: `flask --app run lab export CLASS FILE` and `lab import FILE`.

The file is one JSON document (gzip-compressed when its name ends in .gz):

    {"format": "ecomlab-class", "version": 1, "exported_at": …, "schema": <alembic revision>,
     "class": {"id", "name"}, "counts": {table: rows},
     "tables": {table: {"columns": [...], "rows": [[...], ...]}},
     "certificates": [ids of certificates whose CA signature verified at export],
     "checksum": sha256 of the tables and the certificates}

It holds everything the class's pages show: the class and its instructor, the students (with
their password hashes and initial passwords: keep the file private), enrolments, groups,
assignments, and each run of the class with its seats, world (accounts, products, documents and
their lines, stock moves, transfers), events, adjustments and reflections. Rows are copied column
by column, so a column added to a model travels without a change here; a table added to the
models must be named in TABLES or NOT_EXPORTED (tests/test_backup.py checks).

Import gives every row a new id (the target may hold other classes) and rewrites every
reference: foreign keys, the id columns that are not foreign keys (ID_COLUMNS), the user ids in
a group's roles and the archived run a reset's event names. It is one transaction: a file that
is not an export, is damaged or edited, comes from a newer lab, names usernames that exist here
(unless reuse_accounts), or whose class does not pass `lab verify` once written (unless
allow_differences) changes nothing. Imported accounts are never lab admins. The CA that signed
a run's certificates is derived from the SECRET_KEY and the run's id: certificates that verified
at export are signed again by the new run's CA, so signed contracts still verify."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, UTC

from sqlalchemy import (JSON, Boolean, DateTime, Float, Integer, String, Text, bindparam,
                        insert, select, update)
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .runs import RESET_ACTION
from . import models  # noqa: F401  (every table registered)

FORMAT = "ecomlab-class"
VERSION = 1

# In the order they are written (a table after the tables it refers to).
TABLES = ("user", "classroom", "group", "enrollment", "assignment", "run", "seat", "party",
          "product", "document", "document_line", "stock_move", "transfer", "event",
          "adjustment", "reflection")
NOT_EXPORTED = {
    "form_submission": "one-time form keys: they only stop a form sent twice from acting twice",
    "upload_report": "what an upload left to read, shown once after it and kept a day",
    "setting": "the lab's own settings (self-registration), not a class's data",
    "lti_platform": "the lab's LTI registrations of learning platforms, not a class's data",
    "lti_key": "the lab's own LTI key pair (its private key never leaves this lab)",
    "lti_nonce": "one-time nonces of LTI logins, kept a day",
    "lti_user": "links from a platform's users to this lab's accounts: they name this lab's "
                "registrations",
}
# Columns holding ids that are not foreign keys: (table, column) → the table of the id.
ID_COLUMNS = {("document", "case_id"): "document", ("event", "case_id"): "document",
              ("run", "last_event_id"): "event", ("run", "bots_checked_event"): "event"}
# Ids inside JSON: a reset's event names the archived run that keeps what the run held.


class BackupError(Exception):
    """A refused export or import: every reason, one line each; nothing changed."""

    def __init__(self, *lines: str):
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def table(name: str):
    return db.metadata.tables[name]


def _references(name: str) -> dict[str, str]:
    """column → referenced table, for the references import must rewrite."""
    refs = {fk.parent.name: fk.column.table.name for fk in table(name).foreign_keys}
    refs.update({col: target for (tbl, col), target in ID_COLUMNS.items() if tbl == name})
    return refs


# ---- export ---------------------------------------------------------------------------------

def export_class(class_id: int) -> dict:
    """The class as one JSON-ready dict, read from one consistent state of the database."""
    from .verify import snapshot
    with snapshot() as session:
        conn = session.connection()
        return _export(conn, class_id)


def _rows(conn, name: str, where) -> list[dict]:
    t = table(name)
    return [dict(row._mapping) for row in conn.execute(select(t).where(where).order_by(t.c.id))]


def _export(conn, class_id: int) -> dict:
    t = {name: table(name) for name in TABLES}
    classroom = _rows(conn, "classroom", t["classroom"].c.id == class_id)
    if not classroom:
        raise BackupError(f"There is no class {class_id} in this database (the number is in the "
                          f"address of its page, /classroom/{class_id}).")
    rows: dict[str, list[dict]] = {"classroom": classroom}
    rows["group"] = _rows(conn, "group", t["group"].c.classroom_id == class_id)
    rows["enrollment"] = _rows(conn, "enrollment", t["enrollment"].c.classroom_id == class_id)
    rows["assignment"] = _rows(conn, "assignment", t["assignment"].c.classroom_id == class_id)
    assignment_ids = [r["id"] for r in rows["assignment"]]
    group_ids = [r["id"] for r in rows["group"]]
    run = t["run"]
    rows["run"] = _rows(conn, "run", run.c.assignment_id.in_(assignment_ids)
                        | run.c.group_id.in_(group_ids))
    run_ids = [r["id"] for r in rows["run"]]
    for name in ("seat", "party", "product", "document", "stock_move", "transfer", "event",
                 "adjustment", "reflection"):
        rows[name] = _rows(conn, name, t[name].c.run_id.in_(run_ids))
    document_ids = [r["id"] for r in rows["document"]]
    rows["document_line"] = _rows(conn, "document_line",
                                  t["document_line"].c.document_id.in_(document_ids))
    user_ids = set()
    for name, found in rows.items():
        for column, target in _references(name).items():
            if target == "user":
                user_ids |= {r[column] for r in found if r[column] is not None}
    for group in rows["group"]:
        user_ids |= {int(v) for v in (group["roles"] or {}).values()}
    rows["user"] = _rows(conn, "user", t["user"].c.id.in_(user_ids))
    tables = {name: _serialize(name, rows[name]) for name in TABLES}
    data = {
        "format": FORMAT, "version": VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema": _schema_revision(conn),
        "class": {"id": class_id, "name": classroom[0]["name"]},
        "counts": {name: len(rows[name]) for name in TABLES},
        "tables": tables,
        "certificates": _verified_certificates(rows["run"], rows["document"]),
    }
    data["checksum"] = checksum(data)
    return data


def _serialize(name: str, rows: list[dict]) -> dict:
    columns = [c.name for c in table(name).columns]
    types = {c.name: c.type for c in table(name).columns}
    out = []
    for row in rows:
        out.append([_to_json(types[c], row[c]) for c in columns])
    return {"columns": columns, "rows": out}


def _to_json(type_, value):
    if value is None:
        return None
    if isinstance(type_, DateTime):
        return value.isoformat()
    return value


def _schema_revision(conn) -> str | None:
    from sqlalchemy import inspect
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _ca_run(run: dict) -> int:
    """The run whose CA signed a run's certificates: an archive keeps its run's (lab/verify.py)."""
    return run.get("archived_from_id") or run["id"]


def _verified_certificates(runs: list[dict], documents: list[dict]) -> list[int]:
    from .engine import ca
    by_id = {r["id"]: r for r in runs}
    return [d["id"] for d in documents if d["kind"] == "certificate"
            and (d["data"] or {}).get("ca_signature")
            and ca.certificate_valid(_ca_run(by_id[d["run_id"]]), d["data"].get("public_key", ""),
                                     d["data"]["ca_signature"])]


def checksum(data: dict) -> str:
    """The SHA-256 of what an import reads (the tables and the certificates to sign again)."""
    text = json.dumps([data.get("tables"), data.get("certificates")], sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_file(data: dict, path: str) -> None:
    """Write the export readable by its owner only (it holds password hashes)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if str(path).endswith(".gz"):
        text = gzip.compress(text)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(text)


def read_file(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as error:
        raise BackupError(f"{path}: cannot be read ({error.strerror}).") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw.decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError, ValueError, RecursionError):
        raise BackupError(f"{path}: this is not an ecomlab class export (not JSON; a file "
                          f"written by `flask --app run lab export` is).") from None
    return data


# ---- import ---------------------------------------------------------------------------------

@dataclass
class Imported:
    class_id: int
    name: str
    join_code: str
    join_code_changed: bool
    counts: dict[str, int]
    created_users: list[str] = field(default_factory=list)
    reused_users: list[str] = field(default_factory=list)
    not_admin: list[str] = field(default_factory=list)
    run_ids: dict[int, int] = field(default_factory=dict)  # the file's run id → the new one

    def lines(self) -> list[str]:
        lines = [f"Imported class {self.name!r} as class {self.class_id} (/classroom/"
                 f"{self.class_id}): " + ", ".join(f"{t} {n}" for t, n in self.counts.items())
                 + "."]
        lines.append(f"Accounts: {len(self.created_users)} created"
                     + (f", {len(self.reused_users)} already here and reused: "
                        f"{', '.join(self.reused_users)}" if self.reused_users else "") + ".")
        if self.join_code_changed:
            lines.append(f"The class's join code was taken here: its join code is now "
                         f"{self.join_code}.")
        if self.not_admin:
            lines.append(f"Lab admins in the file are instructors only here: "
                         f"{', '.join(self.not_admin)}.")
        lines.append("`flask --app run lab verify`: the imported runs add up.")
        return lines


def import_class(data: dict, *, reuse_accounts: bool = False,
                 allow_differences: bool = False) -> Imported:
    """Write the file's class into this database in one transaction, or refuse (BackupError)
    having changed nothing."""
    tables = _check_file(data)
    db.session.rollback()  # start clean: nothing of the caller's is committed with the class
    try:
        result = _write(data, tables, reuse_accounts)
        _verify_written(result, allow_differences)
        db.session.commit()
    except BackupError:
        db.session.rollback()
        raise
    except SQLAlchemyError as error:
        db.session.rollback()
        raise BackupError("The database refused the class: "
                          f"{getattr(error, 'orig', error)}".splitlines()[0]) from None
    except BaseException:
        db.session.rollback()
        raise
    return result


def _check_file(data) -> dict[str, list[dict]]:
    """The file's rows as dicts, once everything in it is checked; or BackupError."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError("This is not an ecomlab class export (its format is not "
                          f"{FORMAT!r}): only files written by `flask --app run lab export` "
                          "can be imported.")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BackupError(f"The export's format version {version!r} is not valid: the file is "
                          "damaged.")
    if version > VERSION:
        raise BackupError(f"The export has format version {version}, made by a newer version of "
                          f"ecomlab; this lab reads format {VERSION} and older. Update the lab, "
                          "then import it.")
    raw = data.get("tables")
    if not isinstance(raw, dict) or data.get("checksum") != checksum(data):
        raise BackupError("The export is damaged or was edited after it was written (its "
                          "checksum does not match): it cannot be imported.")
    problems = []
    tables: dict[str, list[dict]] = {}
    for name in TABLES:
        tables[name] = _check_table(name, raw.get(name), problems)
    if not problems:
        _check_references(tables, problems)
    if not problems and len(tables["classroom"]) != 1:
        problems.append(f"the export holds {len(tables['classroom'])} classes, not one")
    if problems:
        raise BackupError("The export cannot be imported:", *[f"  {p}" for p in problems[:20]],
                          *([f"  … and {len(problems) - 20} more"] if len(problems) > 20 else []))
    return tables


def _check_table(name: str, raw, problems: list[str]) -> list[dict]:
    t = table(name)
    if not isinstance(raw, dict) or not isinstance(raw.get("columns"), list) \
            or not isinstance(raw.get("rows"), list):
        problems.append(f"table {name}: missing")
        return []
    columns = raw["columns"]
    unknown = [c for c in columns if not isinstance(c, str) or c not in t.c]
    if unknown:
        problems.append(f"table {name}: column{'s' * (len(unknown) > 1)} "
                        f"{', '.join(map(str, unknown))} unknown to this lab (a newer version "
                        "wrote the file: update the lab first)")
        return []
    if "id" not in columns or len(set(columns)) != len(columns):
        problems.append(f"table {name}: the columns are not valid")
        return []
    rows, ids = [], set()
    for n, values in enumerate(raw["rows"], 1):
        if not isinstance(values, list) or len(values) != len(columns):
            problems.append(f"table {name}, row {n}: {len(columns)} values expected")
            continue
        row = {}
        for column, value in zip(columns, values, strict=True):
            try:
                row[column] = _from_json(t.c[column], value)
            except (TypeError, ValueError) as error:
                problems.append(f"table {name}, row {n}, {column}: {error}")
        if row.get("id") in ids:
            problems.append(f"table {name}, row {n}: id {row['id']} twice")
        ids.add(row.get("id"))
        rows.append(row)
    return rows


def _from_json(column, value):
    """A value of the file, checked against the column's type (the target may be SQLite,
    which would store anything)."""
    type_ = column.type
    if value is None:
        if not column.nullable and not column.primary_key and column.default is None:
            raise ValueError("a value is required")
        if column.primary_key:
            raise ValueError("a value is required")
        return None
    if isinstance(type_, DateTime):
        if not isinstance(value, str):
            raise ValueError("a date and time is expected")
        return datetime.fromisoformat(value)
    if isinstance(type_, Boolean):
        if not isinstance(value, bool):
            raise ValueError("true or false is expected")
        return value
    if isinstance(type_, Integer):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("a whole number is expected")
        return value
    if isinstance(type_, Float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError("a number is expected")
        return float(value)
    if isinstance(type_, (String, Text)):
        if not isinstance(value, str):
            raise ValueError("a text is expected")
        if getattr(type_, "length", None) and len(value) > type_.length:
            raise ValueError(f"longer than {type_.length} characters")
        return value
    if isinstance(type_, JSON):
        return value
    raise ValueError(f"cannot read a {type_}")


def _check_references(tables: dict[str, list[dict]], problems: list[str]) -> None:
    """Every id the file's rows refer to is a row of the file (or a sentinel ≤ 0 of the run's
    bookmarks): the class comes whole, and nothing of the target is touched."""
    ids = {name: {r["id"] for r in rows} for name, rows in tables.items()}
    for name, rows in tables.items():
        for column, target in _references(name).items():
            if target not in ids:
                continue  # a table the file does not carry (checked by NOT_EXPORTED's test)
            for row in rows:
                value = row.get(column)
                if value is None or (value <= 0 and (name, column) in ID_COLUMNS):
                    continue
                if value not in ids[target]:
                    problems.append(f"table {name}, id {row['id']}: {column} {value} is not in "
                                    f"the file's {target} rows")
    users = ids["user"]
    for group in tables["group"]:
        roles = group.get("roles")
        if not isinstance(roles, dict) or not all(
                isinstance(v, int) and v in users for v in roles.values()):
            problems.append(f"table group, id {group['id']}: roles must name users of the file")


def _write(data: dict, tables: dict[str, list[dict]], reuse_accounts: bool) -> Imported:
    users = _map_users(tables["user"], reuse_accounts)
    new_ids: dict[str, dict[int, int]] = {"user": users.mapping}
    deferred: list[tuple[str, str, int, int]] = []  # (table, column, new row id, old value)
    classroom = tables["classroom"][0]
    code, code_changed = _join_code(classroom["join_code"])
    classroom["join_code"] = code
    for name in TABLES:
        if name == "user":
            _insert_users(users, new_ids["user"])
            continue
        new_ids[name] = _insert(name, tables[name], new_ids, deferred)
    _rewrite_later(deferred, new_ids)
    verified = data.get("certificates")
    _sign_certificates(tables, new_ids, set(verified) if isinstance(verified, list) else set())
    db.session.flush()
    return Imported(class_id=new_ids["classroom"][classroom["id"]], name=classroom["name"],
                    join_code=code, join_code_changed=code_changed,
                    counts={name: len(tables[name]) for name in TABLES},
                    created_users=users.created, reused_users=users.reused,
                    not_admin=users.not_admin, run_ids=dict(new_ids["run"]))


@dataclass
class _Users:
    rows: list[dict]
    mapping: dict[int, int]
    created: list[str]
    reused: list[str]
    not_admin: list[str]


def _map_users(rows: list[dict], reuse_accounts: bool) -> _Users:
    """Usernames already here (compared as the login compares them: normalize_username) are
    refused, or with reuse_accounts mapped to the accounts here."""
    from .models.user import normalize_username
    User = table("user")
    for row in rows:  # the comparison key is this lab's rule, whatever the file says
        row["username_key"] = normalize_username(row["username"])
    wanted = {r["username_key"]: r for r in rows}
    existing = {}
    keys = list(wanted)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for user_id, username, key in db.session.execute(
                select(User.c.id, User.c.username, User.c.username_key)
                .where(User.c.username_key.in_(chunk))):
            existing[key] = (user_id, username)
    if existing and not reuse_accounts:
        taken = sorted(wanted[k]["username"] for k in existing)
        raise BackupError(
            f"{len(taken)} username{'s' * (len(taken) != 1)} of the export exist in this "
            f"database already: {', '.join(taken)}.",
            "If they are the same people, import with --reuse-accounts: the class is attached "
            "to these accounts (their passwords here stay); otherwise rename the accounts here "
            "first.")
    mapping = {wanted[k]["id"]: user_id for k, (user_id, _) in existing.items()}
    return _Users(rows=[r for r in rows if r["username_key"] not in existing],
                  mapping=mapping, created=[], reused=sorted(u for _, u in existing.values()),
                  not_admin=[])


def _insert_users(users: _Users, mapping: dict[int, int]) -> None:
    for row in users.rows:
        if row.get("is_admin"):
            row["is_admin"] = False
            users.not_admin.append(row["username"])
        users.created.append(row["username"])
    mapping.update(_insert_rows("user", users.rows))


def _join_code(code: str) -> tuple[str, bool]:
    """The class keeps its join code unless a class here has it (the same class imported
    twice): then it gets a new one."""
    from .join_codes import new_join_code
    Classroom = table("classroom")
    if db.session.scalar(select(Classroom.c.id).where(Classroom.c.join_code == code)) is None:
        return code, False
    return new_join_code(), True


def _insert(name: str, rows: list[dict], new_ids: dict, deferred: list) -> dict[int, int]:
    refs = _references(name)
    later = []  # (row index, column, old value): ids of rows not written yet
    prepared = []
    for index, row in enumerate(rows):
        row = dict(row)
        for column, target in refs.items():
            if column not in row:
                continue
            old = row[column]
            if old is None or (old <= 0 and (name, column) in ID_COLUMNS):
                continue
            if target in new_ids and target != name:
                row[column] = new_ids[target][old]
            else:  # the table itself (a document's parent) or one written later (events)
                row[column] = None if table(name).c[column].nullable else 0
                later.append((index, column, old))
        if name == "group":
            row["roles"] = {role: new_ids["user"][old] for role, old in row["roles"].items()}
        if name == "event" and row.get("action") == RESET_ACTION and "archive" in (
                row.get("params") or {}):
            row["params"] = {**row["params"],
                             "archive": new_ids["run"].get(row["params"]["archive"])}
        prepared.append(row)
    mapping = _insert_rows(name, prepared)
    old_ids = [r["id"] for r in rows]
    for index, column, old in later:
        deferred.append((name, column, mapping[old_ids[index]], old))
    return mapping


def _rewrite_later(deferred: list, new_ids: dict) -> None:
    """Set the references that could not be written with their row (a document's parent and
    case, a run's last event), once every row has its new id."""
    by_column: dict[tuple[str, str], list[dict]] = {}
    for name, column, row_id, old in deferred:
        target = ID_COLUMNS.get((name, column)) or _references(name)[column]
        by_column.setdefault((name, column), []).append(
            {"_id": row_id, "_value": new_ids[target][old]})
    for (name, column), params in by_column.items():
        t = table(name)
        db.session.execute(update(t).where(t.c.id == bindparam("_id"))
                           .values({column: bindparam("_value")}), params)


def _insert_rows(name: str, rows: list[dict]) -> dict[int, int]:
    """Insert rows without their ids; the database numbers them. old id → new id."""
    if not rows:
        return {}
    t = table(name)
    columns = [c for c in rows[0] if c != "id"]
    params = [{c: row.get(c) for c in columns} for row in rows]
    mapping = {}
    for start in range(0, len(params), 1000):
        chunk = params[start:start + 1000]
        result = db.session.execute(
            insert(t).returning(t.c.id, sort_by_parameter_order=True), chunk)
        new = list(result.scalars())
        for row, new_id in zip(rows[start:start + 1000], new, strict=True):
            mapping[row["id"]] = new_id
    return mapping


def _sign_certificates(tables: dict, new_ids: dict, verified: set) -> None:
    """The CA of a run is derived from the SECRET_KEY and the run's id: a certificate that
    verified at export is signed again by its new run's CA."""
    from .engine import ca
    Document = table("document")
    runs = {r["id"]: r for r in tables["run"]}
    for doc in tables["document"]:
        if doc["kind"] != "certificate" or doc["id"] not in verified:
            continue
        data = dict(doc["data"] or {})
        run_id = new_ids["run"][_ca_run(runs[doc["run_id"]])]
        data["ca_signature"] = ca.certify(run_id, data.get("public_key", ""))
        db.session.execute(update(Document).where(Document.c.id == new_ids["document"][doc["id"]])
                           .values(data=data))


def _verify_written(result: Imported, allow_differences: bool) -> None:
    from .verify import verify
    report = verify(db.session, list(result.run_ids.values()))
    if report.differences and not allow_differences:
        raise BackupError("The class in the export does not add up (lab verify found "
                          f"{len(report.differences)} difference"
                          f"{'s' * (len(report.differences) != 1)}):",
                          *[f"  {d}" for d in report.differences[:20]],
                          "Nothing was imported. To restore it as it is anyway, import with "
                          "--allow-differences.")


