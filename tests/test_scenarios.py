"""Scenario files: the validator names every problem; the command line checks and autoplays
exactly as SCENARIO_FORMAT.md promises; every shipped scenario plays to a full score."""
import json
from pathlib import Path

import pytest

from lab.scenario import load_file, validate

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
VALID = sorted((ROOT / "tests" / "scenarios" / "valid").glob("*.yaml"))
INVALID = ROOT / "tests" / "scenarios" / "invalid"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.mark.parametrize("path", SHIPPED + VALID, ids=lambda p: p.stem)
def test_every_scenario_autoplays_to_a_full_score(runner, path):
    result = runner.invoke(args=["lab", "autoplay", str(path), "--json"])
    graded = json.loads(result.output)
    assert result.exit_code == 0, graded.get("stuck")
    assert graded["completed"] is True
    assert graded["score"] == graded["max_score"] > 0
    assert {"scenario", "completed", "score", "max_score", "steps"} <= graded.keys()
    assert all({"id", "met", "points"} <= step.keys() and step["met"] for step in graded["steps"])


def test_shipped_library_uses_every_format_1_action_and_all_roles():
    actions, roles = set(), set()
    for path in SHIPPED:
        scenario = load_file(path)
        actions |= {s.action for s in scenario.steps}
        roles |= {s.role for s in scenario.steps}
    format_1 = {"publish_product", "post_notice", "send_inquiry", "send_quote", "accept_quote",
                "place_order", "accept_order", "forward_shortage", "create_purchase_order",
                "approve_purchase_order", "reject_purchase_order", "deliver_inbound",
                "receive_inbound", "issue_contract", "sign_contract", "remind_payment",
                "pay_order", "confirm_payment", "issue_invoice", "ship_order", "deliver_order",
                "confirm_receipt", "review_order", "request_return", "approve_return",
                "reject_return", "pick_up_return", "receive_return", "refund"}
    assert format_1 <= actions
    assert roles == {"mall_admin", "buyer", "supplier", "warehouse", "finance", "purchasing",
                     "logistics"}


def test_check_accepts_the_library(runner):
    result = runner.invoke(args=["lab", "check", *map(str, SHIPPED)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok (") == len(SHIPPED)


def test_check_names_file_step_and_field_of_every_problem(runner):
    path = INVALID / "many-problems.yaml"
    result = runner.invoke(args=["lab", "check", str(path)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert all(line.startswith(str(path)) for line in lines)
    expected = [
        "roles: unknown role 'cashier'",
        "world.products[1]: price: must not be negative",
        "world.products[1]: stock: must not be negative",
        "world.products[1]: vendor: unknown vendor 'nobody'",
        "world.accounts: buyer: must not be negative",
        "step 'o' (#1): with.lines: unknown sku 'ZZ'",
        "step 'o' (#2): id: duplicate step id",
        "step 'o' (#2): action: accept_order is done by supplier, not by buyer",
        "step 'x' (#3): action: unknown action 'teleport_goods'",
        "step 'y' (#4): case: names no case-starting step 'nowhere'",
        "step 'z' (#5): points: must not be negative",
        "step 'z' (#5): check.amount: bad comparison",
    ]
    for fragment in expected:
        assert any(fragment in line for line in lines), fragment


def test_yaml_syntax_error_gives_its_line(runner):
    result = runner.invoke(args=["lab", "check", str(INVALID / "broken-yaml.yaml")])
    assert result.exit_code == 2
    assert "YAML syntax error" in result.output and "starts at line 3" in result.output


def test_autoplay_of_an_invalid_file_exits_2(runner):
    result = runner.invoke(args=["lab", "autoplay", str(INVALID / "many-problems.yaml")])
    assert result.exit_code == 2


def test_check_with_one_bad_file_among_good_ones_exits_2(runner):
    result = runner.invoke(args=["lab", "check", str(SHIPPED[0]),
                                 str(INVALID / "broken-yaml.yaml")])
    assert result.exit_code == 2


BASE = """
format: 1
id: t
title: T
mode: b2c
roles: [buyer]
world:
  company: {name: C}
  buyer: {name: B}
  products: [{sku: A1, name: A, price: 1, stock: 1}]
script:
"""


@pytest.mark.parametrize("script, fragment", [
    ("  - {id: a, role: supplier, action: accept_order}",
     "no order or inquiry is started before this step"),
    ("  - {id: a, role: buyer, action: place_order, with: {lines: [{sku: A1, qty: 0}], "
     "payment: bank_transfer}}", "with.lines"),
    ("  - {id: a, role: buyer, action: place_order, with: {lines: [{sku: A1, qty: 1}], "
     "payment: bitcoin}}", "with.payment"),
    ("  - {id: a, role: buyer, action: send_inquiry, with: {sku: A1, qty: 1}}",
     "not part of a b2c scenario"),
    ("  - {id: a, role: buyer, action: place_order, with: {lines: [{sku: A1, qty: 1}], "
     "payment: bank_transfer}, after: [zz]}", "names no other step 'zz'"),
    ("  - {id: a, role: mall_admin, action: publish_product, with: {sku: N1, name: N, price: 2, "
     "stock: 3}}\n  - {id: b, role: buyer, action: place_order, with: {lines: [{sku: N1, qty: 1}],"
     " payment: bank_transfer}}\n  - {id: c, role: buyer, action: place_order, with: {lines: "
     "[{sku: N2, qty: 1}], payment: bank_transfer}}",
     "step 'c' (#3): with.lines: unknown sku 'N2'"),
])
def test_validator_messages(script, fragment):
    scenario, problems = validate(BASE + script + "\n")
    assert scenario is None
    assert any(fragment in str(p) for p in problems), [str(p) for p in problems]


def test_sku_published_by_an_earlier_step_counts_as_known():
    text = BASE + ("  - {id: a, role: mall_admin, action: publish_product, with: {sku: N1, name: "
                   "N, price: 2, stock: 3}}\n  - {id: b, role: buyer, action: place_order, with: "
                   "{lines: [{sku: N1, qty: 1}], payment: bank_transfer}}\n")
    scenario, problems = validate(text)
    assert problems == [] and scenario.steps[1].case == "b"


def test_extra_fields_are_warnings_and_the_file_still_loads(runner):
    path = ROOT / "tests" / "scenarios" / "valid" / "lenient.yaml"
    result = runner.invoke(args=["lab", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert ": ok (lenient" in result.output
    for fragment in ("author: unknown field (ignored)", "step 'pay' (#4): difficulty",
                     "scoring: bonus", "'ja' is not shown", "belongs to no case (ignored)"):
        assert fragment in result.output, fragment


def test_after_may_name_a_later_step_but_not_go_round_in_a_circle():
    forward = BASE + ("  - {id: a, role: buyer, action: place_order, with: {lines: [{sku: A1, "
                      "qty: 1}], payment: bank_transfer}, after: [b]}\n"
                      "  - {id: b, role: mall_admin, action: post_notice, with: {title: t, "
                      "body: b}}\n")
    scenario, problems = validate(forward)
    assert scenario is not None and scenario.steps[0].deps == ["b"]
    circle = BASE + ("  - {id: a, role: mall_admin, action: post_notice, with: {title: t, "
                     "body: b}, after: [b]}\n"
                     "  - {id: b, role: mall_admin, action: post_notice, with: {title: t, "
                     "body: b}, after: [a]}\n")
    scenario, problems = validate(circle)
    assert scenario is None
    assert any("go round in a circle" in str(p) for p in problems)
