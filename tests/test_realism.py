"""Issue 14, items 6–8: finance sees only the company's money, the buyer's account bears the
student's name, every seat of a shipped scenario has a step, the practice list shows progress
and restarts or abandons a run, and the flow map fits a 1366 px screen without emoji."""
import re
import unicodedata

from lab.extensions import db
from lab.models import Party, Run, Seat
from lab.runs import acting_roles
from lab.scenario import library
from tests.helpers import SCENARIOS, load_file, login, make_user, post, start_run

FIVE = ["buyer", "supplier", "finance", "warehouse", "logistics"]


def party_name(run, key="buyer"):
    return db.session.scalar(db.select(Party.name).where(Party.run_id == run.id,
                                                         Party.key == key))


# ---- 6. realism ---------------------------------------------------------------------------------

def test_finance_sees_the_company_accounts_not_the_customers_balance(app, client):
    student, cashier = make_user("zhang", name="张三"), make_user("cashier")
    run = start_run("b2c-normal", {"buyer": [student.id], "finance": [cashier.id]})
    login(client, "cashier")
    page = client.get(f"/run/{run.id}/finance/").get_data(as_text=True)
    accounts = re.search(r'id="accounts".*?</section>', page, re.S).group(0)
    assert 'data-party="company"' in accounts
    assert 'data-party="buyer"' not in accounts and "张三" not in accounts
    assert "20,000.00" not in accounts  # the buyer's opening balance
    ledger = client.get(f"/run/{run.id}/finance/ledger").get_data(as_text=True)
    assert 'data-party="company"' in ledger and 'data-party="buyer"' not in ledger


def test_the_buyers_account_bears_the_students_name(app):
    student = make_user("zhang", name="张三")
    b2c = start_run("b2c-normal", {"buyer": [student.id]})
    assert party_name(b2c) == {"en": "张三 (Lin Wei)", "zh": "张三(林伟)"}
    b2b = start_run("b2b-normal", {"buyer": [student.id]})
    assert party_name(b2b)["zh"] == "海港餐饮有限公司(张三)"
    nobody = start_run("b2c-normal", {})  # bots play the buyer: the persona
    assert party_name(nobody) == {"en": "Lin Wei", "zh": "林伟"}
    autoplay = start_run("b2c-normal", {"buyer": [student.id]}, kind="autoplay")
    assert party_name(autoplay) == {"en": "Lin Wei", "zh": "林伟"}


def test_every_seat_of_a_shipped_scenario_has_a_step(app):
    for scenario in library():
        assert scenario.roles == acting_roles(scenario), scenario.id


def test_b2b_normal_has_the_coursework_four_seats_and_a_carrier_bot(app):
    scenario = load_file(SCENARIOS / "b2b-normal.yaml")
    assert sorted(scenario.roles) == sorted(["supplier", "buyer", "mall_admin", "warehouse"])
    assert [s.by for s in scenario.steps if s.action == "deliver_order"] == ["bot"]
    assert [s.role for s in scenario.steps if s.action == "ship_order"] == ["warehouse"]


# ---- 7. the practice list -----------------------------------------------------------------------

def practising(client):
    user = make_user("solo")
    login(client, "solo")
    post(client, "/practice/start", {"scenario": "b2c-normal", "roles": FIVE})
    run = db.session.scalar(db.select(Run).where(Run.owner_id == user.id))
    post(client, f"/practice/run/{run.id}/show/order", {"role": "buyer"})
    return user, run


def test_the_practice_list_shows_progress_score_and_next_step(app, client):
    _, run = practising(client)
    page = client.get("/practice/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    row = re.search(rf'data-run="{run.id}".*?</form>\s*</span>', page, re.S).group(0)
    assert re.search(r'class="steps-done">1/7<', row)
    assert re.search(r'class="score">0/\d+<', row)  # a bot did step 1: no points for it
    assert "Next:" in row and "Accept" in row
    assert 'data-confirm="' in row and "/restart" in row and "/abandon" in row


def test_restart_gives_a_fresh_run_with_the_same_seats_once(app, client):
    user, run = practising(client)
    old_id = run.id
    first = post(client, f"/practice/run/{old_id}/restart")
    second = post(client, f"/practice/run/{old_id}/restart")  # pressed twice
    assert first.status_code == 303 and second.status_code == 303
    runs = db.session.scalars(db.select(Run).where(Run.owner_id == user.id)).all()
    assert [r.id for r in runs] != [old_id] and len(runs) == 1
    fresh = runs[0]
    assert sorted(s.role for s in fresh.seats) == sorted(FIVE)
    assert fresh.scenario_slug == "b2c-normal" and fresh.status == "running"
    assert db.session.scalar(db.select(db.func.count()).select_from(Seat)
                             .where(Seat.run_id == old_id)) == 0


def test_abandon_deletes_the_run_once_and_only_ones_own(app, client):
    user, run = practising(client)
    run_id = run.id
    other = app.test_client()
    make_user("other")
    login(other, "other")
    assert post(other, f"/practice/run/{run_id}/abandon").status_code == 404
    assert post(client, f"/practice/run/{run_id}/abandon").status_code == 303
    assert post(client, f"/practice/run/{run_id}/abandon").status_code == 303  # twice: fine
    assert db.session.scalar(db.select(db.func.count()).select_from(Run)
                             .where(Run.owner_id == user.id)) == 0
    assert f'data-run="{run_id}"' not in client.get("/practice/").get_data(as_text=True)


# ---- 8. the flow map ----------------------------------------------------------------------------

def is_emoji_like(ch: str) -> bool:
    return ord(ch) >= 0x1F000 or 0x2300 <= ord(ch) <= 0x23FF or \
        unicodedata.category(ch) == "So" and ord(ch) >= 0x2600 and ch not in "★☆✓✗✎⚠"


def test_the_flow_map_fits_a_1366_screen_and_draws_no_emoji(app, client):
    user = make_user("solo")
    login(client, "solo")
    for slug in ("b2c-new-product", "b2c-return"):  # 14 and 12 columns
        post(client, "/practice/start", {"scenario": slug, "roles": ["buyer"]})
        run = db.session.scalars(db.select(Run).where(Run.owner_id == user.id)
                                 .order_by(Run.id.desc())).first()
        page = client.get(f"/practice/run/{run.id}/map").get_data(as_text=True)
        width = int(re.search(r'<svg[^>]*width="(\d+)"', page).group(1))
        assert width <= 1280, slug  # the page's content width at 1366 px
        assert int(re.search(r'data-bands="(\d+)"', page).group(1)) >= 2
        steps = re.findall(r'data-step="([\w-]+)"', page)
        assert len(steps) == len(load_file(SCENARIOS / f"{slug}.yaml").steps)
        assert not [ch for ch in page if is_emoji_like(ch)]


def test_no_template_draws_an_icon_that_needs_an_emoji_font():
    """Lab PCs often have no emoji font: ⏸ or 🧭 would be an empty box. Icons are inline SVG;
    the few symbols kept (★ ☆ ✓ ✗ ✎ ⚠) are in the common text fonts."""
    root = SCENARIOS.parent / "templates"
    found = [(path.relative_to(root).as_posix(), ch) for path in root.rglob("*.html")
             for ch in path.read_text(encoding="utf-8") if is_emoji_like(ch)]
    assert len(list(root.rglob("*.html"))) > 20
    assert found == []
