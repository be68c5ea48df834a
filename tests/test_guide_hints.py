"""What the guide panel tells a self-learner, found wrong by the browser journeys
(tests/test_browser_journeys.py) and checked here without a browser, on every database."""
import re

from lab.extensions import db
from lab.models import Run
from tests.helpers import act, login, make_user, play, start_run

B2B_SIX = ["buyer", "supplier", "warehouse", "purchasing", "finance", "logistics"]


def practice(slug, roles, username="solo"):
    user = make_user(username)
    run = start_run(slug, seats={role: [user.id] for role in roles}, kind="solo",
                    owner_id=user.id)
    return run


def guide_step(page: str, step: str) -> str:
    """The guide's block of one step (the markup between its div and the next step's)."""
    match = re.search(rf'<div class="guide-step[^"]*" data-step="{re.escape(step)}".*?'
                      r'(?=<div class="guide-step|<a class="small" href="[^"]*/map")', page, re.S)
    assert match, f"the guide shows no step {step}"
    return match.group(0)


def test_the_guide_shows_a_world_amount_as_money(app, client):
    run = practice("b2c-out-of-stock", ["buyer", "supplier", "purchasing", "finance",
                                        "logistics", "warehouse"])
    play(run, until="pay")
    login(client, "solo")
    for lang, words in (("en", "Pay the order (10,560.00)"), ("zh", "支付订单(10,560.00 元)")):
        page = client.get(f"/run/{run.id}/buyer/", headers={"Accept-Language": lang})
        hint = guide_step(page.get_data(as_text=True), "pay")
        assert words in hint, hint
        assert "10560.0" not in hint


def test_a_step_waiting_for_a_bot_says_so_and_sends_nobody_elsewhere(app, client):
    """b2b-out-of-stock without the mall admin: once the buyer has applied for a certificate,
    signing waits for the CA (a bot) to issue it. The guide says a bot does that first, and no
    console links to the buyer's for that step (a learner used to be sent back and forth)."""
    run = practice("b2b-out-of-stock", B2B_SIX)
    play(run, until="sign")
    act(run, "buyer", "request_certificate", password="harbour-2026")
    login(client, "solo")
    for role in ("supplier", "buyer"):
        page = client.get(f"/run/{run.id}/{role}/", headers={"Accept-Language": "en"})
        step = guide_step(page.get_data(as_text=True), "sign")
        first = re.search(r'class="small guide-first">(.*?)</div>', step, re.S).group(1)
        assert "Issue certificate" in first and '<span class="badge bg-secondary">bot</span>' \
            in first, first
        assert "switch-to" not in step, (role, step)
    # Another step that can be done now keeps its link (the supplier's shortage).
    page = client.get(f"/run/{run.id}/buyer/", headers={"Accept-Language": "en"})
    shortage = guide_step(page.get_data(as_text=True), "shortage")
    assert f'href="/run/{run.id}/supplier/"' in shortage and "switch-to" in shortage
    assert db.session.get(Run, run.id).status == "running"
