"""`flask --app run lab verify`: does the database add up?

Every run's world is cached on rows (balances, stock, document states) and written down in its
ledgers (transfers, stock moves) and its log (events). The engine changes both in one
transaction, so they must agree, after a crash or a restore too:

- ledgers: each bank account holds its opening balance plus what its transfers brought in, less
  what they took out; the escrow account holds what the orders say it holds; each order received
  its amount when it is paid (and nothing when it is not), each refund and purchase order paid
  what its document says;
- stock: each product's stock is the sum of its stock card, and every line of the card shows the
  stock after it; each shipment, received return and inbound delivery moved exactly its goods;
- events: one event per accepted action (no request key twice, no action recorded twice), the
  run's last event is its last accepted one, every accepted action is one the lab knows;
- documents: each was made by an accepted action of its run at the moment it says, its last
  change is an accepted action's, it changed at least once per action done on it, its total is
  its lines', its number has its kind's prefix; signed contracts and issued certificates verify;
- references: nothing points into another run (documents, products, accounts), a class run's
  group and assignment are of one class, a group's roles are held by its class's students;
- runs: the status agrees with the clock (started, paused, finished).

`verify(session)` returns a Report; the command prints it and exits 1 on any difference.
`snapshot()` gives a session that reads one consistent state of a live database."""
from __future__ import annotations

import json
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from .extensions import db
from .models import (Adjustment, Assignment, Document, DocumentLine, Enrollment, Event, Group,
                     Party, Product, Reflection, Run, Seat, StockMove, Transfer)
from .models.document import PREFIX

# Documents the world itself starts with (lab/runs.py builds them with the run), not an action.
WORLD_MADE = {"membership"}
PAID = ("paid", "confirmed", "refunded")

CHECKS = {
    "ledgers": "bank balances equal their transfers; orders, refunds and vendors paid once",
    "stock": "stock equals its stock card; shipments, returns and deliveries moved their goods",
    "events": "one event per accepted action",
    "documents": "every document made and changed by accepted actions; totals, signatures",
    "references": "nothing points into another run or class",
    "runs": "each run's status agrees with its clock",
}


@dataclass(frozen=True)
class Difference:
    check: str
    run_id: int | None
    what: str

    def __str__(self) -> str:
        where = f"run {self.run_id}" if self.run_id is not None else "database"
        return f"[{self.check}] {where}: {self.what}"


@dataclass
class Report:
    runs: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # what was checked: rows by kind
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def by_check(self, check: str) -> list[Difference]:
        return [d for d in self.differences if d.check == check]

    def lines(self) -> list[str]:
        counted = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in self.counts.items())
        lines = [f"Checked {self.runs} run{'s' * (self.runs != 1)}"
                 + (f" ({counted})." if counted else ".")]
        for check, meaning in CHECKS.items():
            found = len(self.by_check(check))
            verdict = "ok" if not found else f"{found} difference{'s' * (found != 1)}"
            lines.append(f"  {check:<11} {verdict:<16} {meaning}")
        if self.differences:
            lines.append("")
            lines += [f"  {d}" for d in self.differences]
            lines.append("")
            lines.append(f"NOT CONSISTENT: {len(self.differences)} difference"
                         f"{'s' * (len(self.differences) != 1)}.")
        else:
            lines.append("Consistent: no difference.")
        return lines


def money(cents: int | None) -> str:
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@contextmanager
def snapshot():
    """A read-only session over one consistent state of the database, even while a class is
    playing (REPEATABLE READ on PostgreSQL; one read transaction on SQLite, where WAL keeps
    its snapshot). Nothing it reads is written back."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    else:
        conn = engine.connect()
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # pysqlite would not begin before a read
    session = Session(bind=conn, autoflush=False)
    try:
        yield session
    finally:
        session.close()
        conn.rollback()
        conn.close()


def opening_cents(scenario, key: str) -> int:
    """An account's opening balance, as lab/runs.py opened it from the scenario's world."""
    from .scenario import DEFAULT_BALANCE
    default = DEFAULT_BALANCE if key in ("buyer", "company") else 0
    balance = (scenario.world.get("accounts") or {}).get(key.removeprefix("vendor:"), default)
    return round(float(balance) * 100)


def verify(session: Session | None = None, run_ids=None) -> Report:
    """Check every run (or the runs of run_ids) and the classes they belong to."""
    s = session or db.session
    query = select(Run).order_by(Run.id)
    if run_ids is not None:
        query = query.where(Run.id.in_(list(run_ids)))
    runs = {run.id: run for run in s.scalars(query)}
    report = Report(runs=len(runs))
    if not runs:
        return report
    check = _Checker(s, runs, report)
    for name in CHECKS:
        getattr(check, name)()
    return report


class _Checker:
    def __init__(self, s: Session, runs: dict[int, Run], report: Report):
        self.s, self.run_of, self.report = s, runs, report
        self.ids = list(runs)
        self.docs = {d.id: d for d in s.scalars(
            select(Document).where(Document.run_id.in_(self.ids)).order_by(Document.id))}
        self.log = list(s.scalars(select(Event).where(Event.run_id.in_(self.ids))
                                  .order_by(Event.id)))
        self.accepted = [e for e in self.log if e.ok]
        self.shipped = {d.parent_id for d in self.docs.values() if d.kind == "shipment"}
        report.counts.update(documents=len(self.docs), events=len(self.log))

    def differ(self, check: str, run_id: int | None, what: str) -> None:
        self.report.differences.append(Difference(check, run_id, what))

    def of_runs(self, model, *where):
        return list(self.s.scalars(select(model).where(model.run_id.in_(self.ids), *where)
                                   .order_by(model.id)))

    # ---- ledgers ------------------------------------------------------------------------------
    def ledgers(self) -> None:
        from .runs import scenario_of
        parties = self.of_runs(Party)
        transfers = self.of_runs(Transfer)
        self.report.counts.update(accounts=len(parties), transfers=len(transfers))
        moved_in, moved_out = defaultdict(int), defaultdict(int)
        by_doc = defaultdict(lambda: defaultdict(int))  # document → memo → cents
        for t in transfers:
            moved_in[t.to_party_id] += t.amount_cents
            moved_out[t.from_party_id] += t.amount_cents
            if t.document_id is not None:
                by_doc[t.document_id][t.memo] += t.amount_cents
            if t.amount_cents <= 0 or t.from_party_id == t.to_party_id:
                self.differ("ledgers", t.run_id, f"transfer {t.id} moves {money(t.amount_cents)} "
                            f"from account {t.from_party_id} to account {t.to_party_id}")
        escrow_of: dict[int, tuple[Party, int]] = {}  # run → (its escrow account, opening)
        for party in parties:
            try:
                opening = opening_cents(scenario_of(self.run_of[party.run_id]), party.key)
            except Exception as error:  # a stored scenario that no longer reads
                self.differ("ledgers", party.run_id, f"the run's scenario cannot be read: {error}")
                continue
            expected = opening + moved_in[party.id] - moved_out[party.id]
            if party.balance_cents != expected:
                self.differ("ledgers", party.run_id,
                            f"the bank account of {party.key} holds {money(party.balance_cents)}"
                            f", its ledger says {money(expected)} (opening {money(opening)} + "
                            f"{money(moved_in[party.id])} in - {money(moved_out[party.id])} out)")
            if party.balance_cents < 0:
                self.differ("ledgers", party.run_id, f"the bank account of {party.key} is "
                            f"below zero: {money(party.balance_cents)}")
            if party.key == "escrow":
                escrow_of[party.run_id] = (party, opening)
        held = defaultdict(int)
        for doc in self.docs.values():
            if doc.kind == "order":
                held[doc.run_id] += int((doc.data or {}).get("escrow_held", 0) or 0)
                self._order_paid(doc, by_doc[doc.id])
            elif doc.kind == "return":
                self._return_refunded(doc, by_doc[doc.id])
            elif doc.kind == "purchase_order":
                self._vendor_paid(doc, by_doc[doc.id])
        for run_id, (escrow, opening) in escrow_of.items():
            if escrow.balance_cents - opening != held[run_id]:
                self.differ("ledgers", run_id, f"the escrow account holds "
                            f"{money(escrow.balance_cents - opening)} for the orders, "
                            f"the orders say it holds {money(held[run_id])}")

    def _order_paid(self, order: Document, memos: dict) -> None:
        received = memos["payment"] + memos["escrow"] + memos["cod"] - memos["reversal"]
        expected = (order.amount_cents or 0) if order.payment in PAID else 0
        if received != expected:
            self.differ("ledgers", order.run_id,
                        f"order {order.number} is {order.payment} but its transfers brought in "
                        f"{money(received)} (expected {money(expected)})")

    def _return_refunded(self, ret: Document, memos: dict) -> None:
        refunded = memos["refund"]
        order = self.docs.get(ret.parent_id)
        if ret.state != "refunded":
            expected = 0
        elif order is not None and order.payment == "unpaid":
            expected = 0  # cash on delivery never collected: nothing to pay back
        else:
            expected = ret.amount_cents or 0
        if refunded != expected:
            self.differ("ledgers", ret.run_id, f"return {ret.number} is {ret.state} but "
                        f"{money(refunded)} was refunded (expected {money(expected)})")

    def _vendor_paid(self, po: Document, memos: dict) -> None:
        paid = memos["vendor"]
        expected = (po.amount_cents or 0) if po.state in ("approved", "delivered", "received") \
            else 0
        if paid != expected:
            self.differ("ledgers", po.run_id, f"purchase order {po.number} is {po.state} but "
                        f"{money(paid)} was paid to the vendor (expected {money(expected)})")

    # ---- stock --------------------------------------------------------------------------------
    def stock(self) -> None:
        products = {p.id: p for p in self.of_runs(Product)}
        moves = self.of_runs(StockMove)
        self.report.counts.update(products=len(products), stock_moves=len(moves))
        card = defaultdict(list)
        for move in moves:
            card[move.product_id].append(move)
        for product in products.values():
            running = 0
            for move in card[product.id]:
                running += move.qty
                if move.stock_after != running:
                    self.differ("stock", product.run_id,
                                f"the stock card of {product.sku} shows {move.stock_after} after "
                                f"move {move.id} ({move.reason} {move.qty:+d}), its moves add "
                                f"up to {running}")
                    running = move.stock_after  # report each break once
                if move.stock_after < 0:
                    self.differ("stock", product.run_id, f"the stock of {product.sku} went "
                                f"below zero at move {move.id}: {move.stock_after}")
            total = sum(m.qty for m in card[product.id])
            if product.stock != total:
                self.differ("stock", product.run_id,
                            f"{product.sku} shows {product.stock} in stock, its stock card "
                            f"adds up to {total}")
        moved = defaultdict(lambda: defaultdict(int))  # (document, reason) → product → qty
        for move in moves:
            if move.document_id is not None:
                moved[(move.document_id, move.reason)][move.product_id] += move.qty
        for doc in self.docs.values():
            self._goods_moved(doc, moved)

    def _goods_moved(self, doc: Document, moved) -> None:
        lines = defaultdict(int)
        for line in doc.lines:
            lines[line.product_id] += line.qty
        if doc.kind == "order":
            want = {p: -q for p, q in lines.items()} if doc.id in self.shipped else {}
            self._compare_moves(doc, "ship", moved[(doc.id, "ship")], want)
        elif doc.kind == "return":
            want = dict(lines) if doc.state in ("received", "refunded") else {}
            self._compare_moves(doc, "return", moved[(doc.id, "return")], want)
        elif doc.kind == "inbound":
            want = {doc.product_id: doc.qty or 0} if doc.state == "received" else {}
            self._compare_moves(doc, "inbound", moved[(doc.id, "inbound")], want)

    def _compare_moves(self, doc: Document, reason: str, got: dict, want: dict) -> None:
        got = {p: q for p, q in got.items() if q}
        want = {p: q for p, q in want.items() if q}
        if got != want:
            self.differ("stock", doc.run_id,
                        f"{doc.kind} {doc.number} is {doc.state}: its '{reason}' stock moves "
                        f"are {_by_product(got)}, expected {_by_product(want)}")

    # ---- events -------------------------------------------------------------------------------
    def events(self) -> None:
        from .engine import registry
        from .runs import CLOCK_ACTIONS, RESET_ACTION as RESET
        keys = defaultdict(list)
        seen = {}
        last = defaultdict(int)
        for event in self.log:
            if event.request_key:
                keys[(event.run_id, event.request_key)].append(event.id)
            if not event.ok:
                continue
            last[event.run_id] = max(last[event.run_id], event.id)
            if registry.get(event.action) is None and event.action not in (*CLOCK_ACTIONS,
                                                                            RESET):
                self.differ("events", event.run_id, f"event {event.id} records an action the "
                            f"lab does not know: {event.action!r}")
            same = (event.run_id, event.at, event.action, event.document_id, event.user_id,
                    event.actor, json.dumps(event.params, sort_keys=True, default=str))
            if same in seen:
                self.differ("events", event.run_id,
                            f"events {seen[same]} and {event.id} record the same action twice "
                            f"({event.action} at {event.at:%Y-%m-%d %H:%M:%S.%f})")
            else:
                seen[same] = event.id
        for (run_id, key), ids in keys.items():
            if len(ids) > 1:
                self.differ("events", run_id, f"request key {key!r} is on {len(ids)} events "
                            f"({', '.join(map(str, ids))}): one form, one action")
        for run in self.run_of.values():
            if (run.last_event_id or 0) != last[run.id]:
                self.differ("events", run.id, f"the run's last event is {run.last_event_id}, "
                            f"its last accepted event is {last[run.id]}")

    # ---- documents ----------------------------------------------------------------------------
    def documents(self) -> None:
        times = defaultdict(set)
        done_on = defaultdict(int)
        for event in self.accepted:
            times[event.run_id].add(event.at)
            if event.document_id is not None:
                done_on[event.document_id] += 1
        for doc in self.docs.values():
            made = doc.created_at in times[doc.run_id]
            if not made and doc.kind not in WORLD_MADE:
                self.differ("documents", doc.run_id, f"{doc.kind} {doc.number} was made by no "
                            f"accepted action (none at {doc.created_at})")
            if doc.updated_at != doc.created_at and doc.updated_at not in times[doc.run_id]:
                self.differ("documents", doc.run_id, f"{doc.kind} {doc.number} ({doc.state}) was "
                            f"last changed at {doc.updated_at}, when no accepted action was done")
            if done_on[doc.id] > (doc.version or 1) - 1:
                self.differ("documents", doc.run_id,
                            f"{done_on[doc.id]} accepted events are recorded on {doc.kind} "
                            f"{doc.number}, which changed only {(doc.version or 1) - 1} times: "
                            f"an action is recorded twice")
            if doc.kind in PREFIX and not doc.number.startswith(PREFIX[doc.kind] + "-"):
                self.differ("documents", doc.run_id, f"{doc.kind} {doc.number} does not carry "
                            f"the number of a {doc.kind} ({PREFIX[doc.kind]}-…)")
            if doc.lines and doc.amount_cents is not None:
                total = sum(line.qty * line.price_cents for line in doc.lines)
                if total != doc.amount_cents:
                    self.differ("documents", doc.run_id, f"{doc.kind} {doc.number} totals "
                                f"{money(doc.amount_cents)}, its lines add up to {money(total)}")
        self._signatures()

    def _signatures(self) -> None:
        from .engine import ca
        from .engine.actions.b2b import canonical_text
        certificates = {(d.run_id, d.number): d for d in self.docs.values()
                        if d.kind == "certificate"}
        for cert in certificates.values():
            data = cert.data or {}
            run = self.run_of[cert.run_id]  # an archive keeps the certificates its run's CA signed
            if cert.state == "issued" and not ca.certificate_valid(
                    run.archived_from_id or run.id, data.get("public_key", ""),
                    data.get("ca_signature", "")):
                self.differ("documents", cert.run_id, f"certificate {cert.number} does not "
                            f"verify against the run's CA (a different SECRET_KEY?)")
        for contract in self.docs.values():
            if contract.kind != "contract" or contract.state != "signed":
                continue
            data = contract.data or {}
            cert = certificates.get((contract.run_id, data.get("certificate")))
            order = self.docs.get(contract.parent_id)
            good = cert is not None and order is not None and ca.verify(
                (cert.data or {}).get("public_key", ""),
                canonical_text(contract, order, self.run_of[contract.run_id]),
                data.get("signature", ""))
            if not good:
                self.differ("documents", contract.run_id, f"the signature of contract "
                            f"{contract.number} does not verify against its text")

    # ---- references ---------------------------------------------------------------------------
    def references(self) -> None:
        docs, s = self.docs, self.s
        for doc in docs.values():
            for name, target in (("parent", doc.parent_id), ("case", doc.case_id)):
                if target is not None and (target not in docs or docs[target].run_id != doc.run_id):
                    self.differ("references", doc.run_id, f"{doc.kind} {doc.number}: its {name} "
                                f"{target} is not a document of the run")
        for event in self.log:
            for name, target in (("document", event.document_id), ("case", event.case_id)):
                if target is not None and (target not in docs
                                           or docs[target].run_id != event.run_id):
                    self.differ("references", event.run_id, f"event {event.id}: its {name} "
                                f"{target} is not a document of the run")
        # Rows that point at a row of another run (a restore that mixed up its ids).
        line_doc, line_product = aliased(Document), aliased(Product)
        crossings = [  # (row, its run, what it points at, that row's run)
            ("document", Document.id, Document.run_id, "product", Product,
             Product.id == Document.product_id),
            ("document line", DocumentLine.id, line_doc.run_id, "product", line_product,
             line_product.id == DocumentLine.product_id),
            ("stock move", StockMove.id, StockMove.run_id, "product", Product,
             Product.id == StockMove.product_id),
            ("stock move", StockMove.id, StockMove.run_id, "document", Document,
             Document.id == StockMove.document_id),
            ("transfer", Transfer.id, Transfer.run_id, "document", Document,
             Document.id == Transfer.document_id),
            ("transfer", Transfer.id, Transfer.run_id, "paying account", Party,
             Party.id == Transfer.from_party_id),
            ("transfer", Transfer.id, Transfer.run_id, "receiving account", Party,
             Party.id == Transfer.to_party_id),
        ]
        for label, row_id, run_col, name, target, on in crossings:
            query = select(row_id, run_col, target.run_id).join(target, on)
            if label == "document line":
                query = query.join(line_doc, line_doc.id == DocumentLine.document_id)
            for row, run_id, target_run in s.execute(query.where(run_col.in_(self.ids))):
                if run_id != target_run:
                    self.differ("references", run_id, f"{label} {row}: its {name} is of run "
                                f"{target_run}")
        self._classes()

    def _classes(self) -> None:
        s = self.s
        runs = [r for r in self.run_of.values() if r.group_id or r.assignment_id]
        groups = {g.id: g for g in s.scalars(select(Group).where(
            Group.id.in_({r.group_id for r in runs if r.group_id})))} if runs else {}
        assignments = {a.id: a for a in s.scalars(select(Assignment).where(
            Assignment.id.in_({r.assignment_id for r in runs if r.assignment_id})))} \
            if runs else {}
        for run in runs:
            group, assignment = groups.get(run.group_id), assignments.get(run.assignment_id)
            if group and assignment and group.classroom_id != assignment.classroom_id:
                self.differ("references", run.id, f"the run's group is of class "
                            f"{group.classroom_id}, its assignment of class "
                            f"{assignment.classroom_id}")
        classes = {g.classroom_id for g in groups.values()}
        enrolled = defaultdict(set)
        for classroom_id, user_id in s.execute(select(Enrollment.classroom_id, Enrollment.user_id)
                                               .where(Enrollment.classroom_id.in_(classes))):
            enrolled[classroom_id].add(user_id)
        for group in s.scalars(select(Group).where(Group.classroom_id.in_(classes))):
            for role, user_id in (group.roles or {}).items():
                if user_id not in enrolled[group.classroom_id]:
                    self.differ("references", None, f"group {group.number} of class "
                                f"{group.classroom_id}: its {role} is user {user_id}, who is "
                                f"not a student of the class")
        seated = defaultdict(set)
        for run_id, user_id in s.execute(select(Seat.run_id, Seat.user_id)
                                         .where(Seat.run_id.in_(self.ids))):
            seated[run_id].add(user_id)
        for model, label in ((Adjustment, "an adjustment"), (Reflection, "a reflection")):
            for row in self.of_runs(model):
                if row.user_id is not None and row.user_id not in seated[row.run_id]:
                    self.differ("references", row.run_id, f"{label} ({row.id}) is for user "
                                f"{row.user_id}, who holds no seat in the run")
        self.report.counts["classes"] = len(classes)

    # ---- runs ---------------------------------------------------------------------------------
    def runs(self) -> None:
        for run in self.run_of.values():
            problems = []
            if run.status in ("running", "paused", "finished") and run.started_at is None:
                problems.append("has no start time")
            if run.status == "paused" and run.paused_at is None:
                problems.append("has no pause time")
            if run.status in ("finished", "archived") and run.finished_at is None:
                problems.append("has no finish time")
            if run.status not in ("finished", "archived") and run.finished_at is not None:
                problems.append("has a finish time")
            if (run.status == "archived") != (run.archived_from_id is not None):
                problems.append("names no run it was archived from" if run.status == "archived"
                                else f"is the archive of run {run.archived_from_id}")
            if run.status not in ("ready", "running", "paused", "finished", "archived"):
                problems.append("has an unknown status")
            for problem in problems:
                self.differ("runs", run.id, f"the run is {run.status} but {problem}")


def _by_product(moves: dict) -> str:
    if not moves:
        return "none"
    return ", ".join(f"product {p}: {q:+d}" for p, q in sorted(moves.items()))

