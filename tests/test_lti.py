"""LTI 1.3, end to end against a simulated platform written here: its own RSA key (cryptography),
its key set served over real HTTP from 127.0.0.1 (so the lab's real fetch path is used), its
id_tokens signed with PyJWT. The admin registers it through the lab's page; then the real flow
through the test client: /lti/login → the redirect to the platform's authorization URL (state and
nonce) → the platform's signed id_token posted to /lti/launch → logged in to the lab.

Every refusal (forged signature, replayed launch, unknown deployment, expired token, unknown
issuer, wrong state, another message type…) answers the refusal page, is logged on "lab.lti",
and changes nothing: no account, no link, the login's nonce still unused."""
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from lab.extensions import db
from lab.models import LtiKey, LtiNonce, LtiPlatform, LtiUser, User
from tests.helpers import csrf_token, login, make_user

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
EN = {"Accept-Language": "en"}


# ---- the simulated platform -------------------------------------------------------------------

def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


class Platform:
    """An LTI 1.3 platform: its key set at http://127.0.0.1:<port>/jwks (a real HTTP server in a
    thread), its issuer, client id and deployment; it signs id_tokens for its users."""
    client_id = "lab-client-42"
    deployment = "deployment-1"
    kid = "platform-key-1"

    def __init__(self):
        self.key = rsa_key()
        self.fetches = 0
        platform = self

        class KeySet(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"keys": [public_jwk(platform.key, platform.kid)]}).encode()
                platform.fetches += 1
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                """The key-set server keeps quiet in the test output."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), KeySet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def form(self, **changes) -> dict:
        """The registration form the admin fills in on the lab's page."""
        return {"issuer": self.issuer, "client_id": self.client_id,
                "deployment_ids": f"{self.deployment}\n",
                "auth_login_url": self.issuer + "/auth", "auth_token_url": self.issuer + "/token",
                "key_set_url": self.issuer + "/jwks", **changes}

    def claims(self, nonce: str, sub: str = "u-1001", roles=(LEARNER,), **changes) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.client_id, "sub": sub, "iat": now, "exp": now + 300,
            "nonce": nonce, "name": "Li Hua", "given_name": "Hua", "family_name": "Li",
            "email": "lihua@example.edu",
            CLAIM + "message_type": "LtiResourceLinkRequest", CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": self.deployment,
            CLAIM + "target_link_uri": "http://localhost/lti/launch",
            CLAIM + "resource_link": {"id": "resource-7", "title": "B2C normal order"},
            CLAIM + "roles": list(roles),
            CLAIM + "context": {"id": "course-3", "label": "EC101", "title": "E-commerce"},
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict, key=None, kid=None, alg="RS256") -> str:
        return jwt.encode(claims, key or self.key, algorithm=alg,
                          headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
def platform():
    simulated = Platform()
    yield simulated
    simulated.stop()


@pytest.fixture
def admin(app):
    make_user("boss", is_admin=True)
    return login(app.test_client(), "boss")


@pytest.fixture
def registered(app, admin, platform):
    """The platform, registered through the admin's page."""
    token = csrf_token(admin, "/lti/platforms")
    response = admin.post("/lti/platforms", data={**platform.form(), "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return db.session.scalar(select(LtiPlatform))


def start_login(client, platform, hint="u-1001", **changes):
    """The platform's login initiation; the redirect's state and nonce."""
    params = {"iss": platform.issuer, "login_hint": hint, "client_id": platform.client_id,
              "target_link_uri": "http://localhost/lti/launch", "lti_message_hint": "m-1",
              **changes}
    response = client.get("/lti/login", query_string=params, headers=EN)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    where = urlsplit(response.location)
    assert f"{where.scheme}://{where.netloc}{where.path}" == platform.issuer + "/auth"
    query = {k: v[0] for k, v in parse_qs(where.query).items()}
    assert query["client_id"] == platform.client_id and query["login_hint"] == hint
    assert query["redirect_uri"] == "http://localhost/lti/launch"
    assert query["response_type"] == "id_token" and query["scope"] == "openid"
    assert query["response_mode"] == "form_post" and query["lti_message_hint"] == "m-1"
    return query["state"], query["nonce"]


def launch(client, state, token):
    return client.post("/lti/launch", data={"id_token": token, "state": state}, headers=EN)


def counts() -> tuple[int, int, int]:
    """(accounts, platform links, used nonces)."""
    return (db.session.scalar(select(func.count()).select_from(User)),
            db.session.scalar(select(func.count()).select_from(LtiUser)),
            db.session.scalar(select(func.count()).select_from(LtiNonce).where(
                LtiNonce.used_at.is_not(None))))


# ---- launches that work -----------------------------------------------------------------------

def test_a_learner_launch_makes_an_account_logs_in_and_the_next_launch_reuses_it(
        app, registered, platform):
    client = app.test_client()
    state, nonce = start_login(client, platform)
    response = launch(client, state, platform.sign(platform.claims(nonce)))
    assert response.status_code == 303 and response.location == "/"
    user = db.session.scalar(select(User).where(User.username == f"lti-{registered.id}-u-1001"))
    assert user.name == "Li Hua" and user.email == "lihua@example.edu"
    assert not user.is_instructor and not user.is_admin and not user.must_change_password
    assert user.last_login_at is not None
    home = client.get("/", headers=EN)
    assert home.status_code == 200 and "Li Hua" in home.get_data(as_text=True)
    assert platform.fetches >= 1  # the key set came over HTTP

    # The next launch (a new browser, the same platform user) finds the same account.
    again = app.test_client()
    state, nonce = start_login(again, platform)
    claims = platform.claims(nonce, name="Li Hua (EC101)")
    assert launch(again, state, platform.sign(claims)).status_code == 303
    assert counts()[:2] == (2, 1)  # the admin and the learner; one link
    db.session.expire_all()
    assert db.session.get(User, user.id).name == "Li Hua (EC101)"
    assert "Li Hua (EC101)" in again.get("/", headers=EN).get_data(as_text=True)


def test_an_instructor_launch_gives_an_instructor_their_classes(app, registered, platform):
    client = app.test_client()
    state, nonce = start_login(client, platform, hint="t-9")
    token = platform.sign(platform.claims(nonce, sub="t-9", roles=[INSTRUCTOR, LEARNER],
                                          name="Wang Laoshi"))
    response = launch(client, state, token)
    assert response.status_code == 303 and response.location == "/classroom/"
    user = db.session.scalar(select(User).join(LtiUser).where(LtiUser.sub == "t-9"))
    assert user.is_instructor and not user.is_admin
    assert client.get("/classroom/", headers=EN).status_code == 200


def test_an_unusual_sub_gets_a_safe_unique_username(app, registered, platform):
    subs = ["Ab C/é" + "x" * 300, "ab c/é" + "x" * 300, "ABC"]
    for sub in subs[:2] + ["ABC", "abc"]:
        client = app.test_client()
        state, nonce = start_login(client, platform, hint="h")
        token = platform.sign(platform.claims(nonce, sub=sub[:255]))
        assert launch(client, state, token).status_code == 303, sub
    names = db.session.scalars(select(User.username).join(LtiUser)).all()
    assert len(names) == len(set(n.lower() for n in names)) == 4
    assert all(len(n) <= 64 and n.startswith(f"lti-{registered.id}-") for n in names)
    assert f"lti-{registered.id}-ABC" in names


# ---- refusals ----------------------------------------------------------------------------------

def _forged(platform, nonce):
    return platform.sign(platform.claims(nonce), key=rsa_key())


REFUSALS = {
    # name: (how the launch is built from (platform, nonce), reason, status)
    "bad signature": (_forged, "signature", 403),
    "unknown deployment": (lambda p, n: p.sign(p.claims(n, **{
        CLAIM + "deployment_id": "deployment-9"})), "deployment", 403),
    "expired token": (lambda p, n: p.sign(p.claims(n, iat=int(time.time()) - 4000,
                                                   exp=int(time.time()) - 3600)),
                      "expired", 403),
    "token from the future": (lambda p, n: p.sign(p.claims(n, iat=int(time.time()) + 3600,
                                                           exp=int(time.time()) + 4000)),
                              "expired", 403),
    "unknown issuer": (lambda p, n: p.sign(p.claims(n, iss="https://other.example.edu")),
                       "platform", 403),
    "another client id": (lambda p, n: p.sign(p.claims(n, aud="another-client")),
                          "platform", 403),
    "several audiences, no azp": (lambda p, n: p.sign(p.claims(n, aud=[p.client_id, "x"])),
                                  "claims", 403),
    "deep linking (not yet)": (lambda p, n: p.sign(p.claims(n, **{
        CLAIM + "message_type": "LtiDeepLinkingRequest"})), "message", 400),
    "LTI 1.1 version": (lambda p, n: p.sign(p.claims(n, **{CLAIM + "version": "1.1"})),
                        "incomplete", 400),
    "no roles claim": (lambda p, n: p.sign(p.claims(n, **{CLAIM + "roles": None})),
                       "incomplete", 400),
    "unknown key id": (lambda p, n: p.sign(p.claims(n), kid="another-key"), "keys", 403),
    "unsigned (alg none)": (lambda p, n: jwt.encode(p.claims(n), None, algorithm="none",
                                                    headers={"kid": p.kid}), "signature", 403),
    "another nonce": (lambda p, n: p.sign(p.claims("n" * 64)), "nonce", 403),
    "not a JWT": (lambda p, n: "not.a-jwt", "token", 400),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_launch_is_refused_logged_and_changes_nothing(app, registered, platform, case,
                                                            caplog):
    build, reason, status = REFUSALS[case]
    client = app.test_client()
    state, nonce = start_login(client, platform)
    before = counts()
    with caplog.at_level(logging.WARNING, logger="lab.lti"):
        response = launch(client, state, build(platform, nonce))
    page = response.get_data(as_text=True)
    assert response.status_code == status, page[:2000]
    assert f'data-reason="{reason}"' in page and "Nothing was changed in the lab" in page
    assert counts() == before
    assert [r for r in caplog.records if r.name == "lab.lti" and f"({reason})" in r.getMessage()]
    assert client.get("/", headers=EN).get_data(as_text=True).count("Li Hua") == 0  # anonymous
    # The refused launch spent nothing: the same login's right launch still works.
    assert launch(client, state, platform.sign(platform.claims(nonce))).status_code == 303


def test_a_replayed_launch_is_refused(app, registered, platform, caplog):
    client = app.test_client()
    state, nonce = start_login(client, platform)
    token = platform.sign(platform.claims(nonce))
    assert launch(client, state, token).status_code == 303
    before = counts()
    # The same token again, from the same browser (its state cookie put back: the launch
    # deleted it) and from another one (no state cookie at all).
    client.set_cookie(f"lti1p3-{state}", state, domain="localhost")
    with caplog.at_level(logging.WARNING, logger="lab.lti"):
        again = launch(client, state, token)
        elsewhere = launch(app.test_client(), state, token)
    assert again.status_code == 403 and 'data-reason="replayed"' in again.get_data(as_text=True)
    assert "used already" in again.get_data(as_text=True)
    assert elsewhere.status_code == 400 and 'data-reason="state"' in elsewhere.get_data(
        as_text=True)
    assert counts() == before
    assert any("(replayed)" in r.getMessage() for r in caplog.records if r.name == "lab.lti")


def test_a_wrong_state_is_refused(app, registered, platform, caplog):
    client = app.test_client()
    state, nonce = start_login(client, platform)
    other_state, _other_nonce = start_login(client, platform)  # a second login, same browser
    token = platform.sign(platform.claims(nonce))
    before = counts()
    with caplog.at_level(logging.WARNING, logger="lab.lti"):
        made_up = launch(client, "state-made-up", token)
        swapped = launch(client, other_state, token)  # its cookie is there, its nonce is not
        no_state = launch(client, "", token)
    assert made_up.status_code == 400 and 'data-reason="state"' in made_up.get_data(as_text=True)
    assert swapped.status_code == 403 and 'data-reason="nonce"' in swapped.get_data(as_text=True)
    assert no_state.status_code == 400
    assert counts() == before
    assert len([r for r in caplog.records if r.name == "lab.lti"]) >= 3


def test_a_login_from_an_unknown_platform_or_without_its_fields_is_refused(
        app, registered, platform, caplog):
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="lab.lti"):
        unknown = client.get("/lti/login", headers=EN, query_string={
            "iss": "https://moodle.unknown.edu", "login_hint": "u", "client_id": "c"})
        empty = client.post("/lti/login", headers=EN)
        wrong_client = client.post("/lti/login", headers=EN, data={
            "iss": platform.issuer, "login_hint": "u", "client_id": "c-other"})
    assert unknown.status_code == 403 and "https://moodle.unknown.edu" in unknown.get_data(
        as_text=True) and "not registered in this lab" in unknown.get_data(as_text=True)
    assert empty.status_code == 400 and 'data-reason="login"' in empty.get_data(as_text=True)
    assert wrong_client.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(LtiNonce)) == 0
    assert len([r for r in caplog.records if r.name == "lab.lti"]) == 3
    # A platform may leave out the client id when its issuer has one registration only.
    response = client.post("/lti/login", data={"iss": platform.issuer, "login_hint": "u"})
    assert response.status_code == 302


def test_an_empty_launch_is_refused(app, registered):
    response = app.test_client().post("/lti/launch", headers=EN)
    assert response.status_code == 400 and "Launch refused" in response.get_data(as_text=True)


def test_an_unreachable_key_set_refuses_the_launch(app, admin, platform):
    admin.post("/lti/platforms", data={**platform.form(key_set_url="http://127.0.0.1:9/jwks"),
                                       "csrf_token": csrf_token(admin, "/lti/platforms")})
    client = app.test_client()
    state, nonce = start_login(client, platform)
    response = launch(client, state, platform.sign(platform.claims(nonce)))
    assert response.status_code == 403
    assert "http://127.0.0.1:9/jwks" in response.get_data(as_text=True)
    assert counts()[1:] == (0, 0)


def test_a_locked_account_is_not_logged_in(app, registered, platform):
    client = app.test_client()
    state, nonce = start_login(client, platform)
    assert launch(client, state, platform.sign(platform.claims(nonce))).status_code == 303
    user = db.session.scalar(select(User).join(LtiUser))
    from lab.models.base import utcnow
    user.locked_at = utcnow()
    db.session.commit()
    other = app.test_client()
    state, nonce = start_login(other, platform)
    response = launch(other, state, platform.sign(platform.claims(nonce)))
    assert response.status_code == 403 and 'data-reason="locked"' in response.get_data(
        as_text=True)
    assert other.get("/classroom/").status_code == 302  # still anonymous: the login page


# ---- the lab's keys ----------------------------------------------------------------------------

def test_the_jwks_verifies_what_the_labs_private_key_signs(app, client):
    response = client.get("/lti/jwks")
    assert response.status_code == 200 and response.is_json
    keyset = response.get_json()
    assert len(keyset["keys"]) == 1
    public = keyset["keys"][0]
    assert public["kty"] == "RSA" and public["alg"] == "RS256" and public["use"] == "sig"
    assert "d" not in public and "p" not in public  # no private part
    key = db.session.scalar(select(LtiKey))
    assert public["kid"] == key.kid
    token = jwt.encode({"iss": "lab", "aud": "platform"}, key.private_key_pem,
                       algorithm="RS256", headers={"kid": key.kid})
    verified = jwt.decode(token, jwt.PyJWK(public).key, algorithms=["RS256"],
                          audience="platform")
    assert verified["iss"] == "lab"
    assert client.get("/lti/jwks").get_json() == keyset  # made once
    assert db.session.scalar(select(func.count()).select_from(LtiKey)) == 1


# ---- the admin's page ----------------------------------------------------------------------------

def test_only_the_admin_opens_the_platform_pages(app, admin, platform):
    make_user("teacher", is_instructor=True)
    make_user("s1")
    for name in ("teacher", "s1"):
        client = login(app.test_client(), name)
        for method, url in (("GET", "/lti/platforms"), ("POST", "/lti/platforms"),
                            ("POST", "/lti/platforms/delete")):
            data = {**platform.form(), "csrf_token": csrf_token(client, "/")} \
                if method == "POST" else None
            response = client.open(url, method=method, data=data, headers=EN)
            assert response.status_code == 403, (name, url)
            assert "Only the lab&#39;s administrators" in response.get_data(as_text=True)
    anonymous = app.test_client().get("/lti/platforms")
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.location
    assert db.session.scalar(select(func.count()).select_from(LtiPlatform)) == 0


def test_the_admin_registers_changes_and_removes_a_platform(app, admin, platform):
    page = admin.get("/lti/platforms", headers=EN).get_data(as_text=True)
    for url in ("http://localhost/lti/login", "http://localhost/lti/launch",
                "http://localhost/lti/jwks"):
        assert url in page
    token = csrf_token(admin, "/lti/platforms")
    response = admin.post("/lti/platforms", headers=EN, data={
        **platform.form(deployment_ids=" d-1 \n\nd-2\nd-1\n"), "csrf_token": token})
    assert response.status_code == 303
    saved = db.session.scalar(select(LtiPlatform))
    assert saved.deployment_ids == ["d-1", "d-2"] and saved.issuer == platform.issuer
    page = admin.get("/lti/platforms", headers=EN).get_data(as_text=True)
    assert platform.issuer + "/jwks" in page and "d-1, d-2" in page

    # The same issuer and client id again: refused, nothing added.
    again = admin.post("/lti/platforms", headers=EN, data={**platform.form(),
                                                           "csrf_token": token})
    assert again.status_code == 400 and "registered already" in again.get_data(as_text=True)
    # Change it (the edit form is filled in).
    edit = admin.get(f"/lti/platforms?edit={saved.id}", headers=EN).get_data(as_text=True)
    assert "d-1\nd-2" in edit and f'name="platform" value="{saved.id}"' in edit
    response = admin.post("/lti/platforms", headers=EN, data={
        **platform.form(deployment_ids="d-3"), "platform": saved.id, "csrf_token": token})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(LtiPlatform)) == 1
    assert db.session.get(LtiPlatform, saved.id).deployment_ids == ["d-3"]
    # Remove it.
    response = admin.post("/lti/platforms/delete", headers=EN,
                          data={"platform": saved.id, "csrf_token": token})
    assert response.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(LtiPlatform)) == 0
    assert admin.post("/lti/platforms/delete", data={"platform": saved.id, "csrf_token": token},
                      headers=EN).status_code == 404


@pytest.mark.parametrize("field,value,message", [
    ("key_set_url", "http://moodle.example.edu/jwks", "plain http is accepted only"),
    ("auth_login_url", "ftp://moodle.example.edu/auth", "Not a web address"),
    ("auth_token_url", "https://moodle.example.edu/token#x", "no “#” part"),
    ("issuer", "moodle.example.edu", "Not a web address"),
    ("client_id", "", "This field is required"),
    ("deployment_ids", " \n ", "This field is required"),
    ("deployment_ids", "x" * 256, "At most 50 deployment ids"),
])
def test_a_bad_registration_is_refused_with_its_reason(app, admin, platform, field, value,
                                                       message):
    response = admin.post("/lti/platforms", headers=EN, data={
        **platform.form(**{field: value}), "csrf_token": csrf_token(admin, "/lti/platforms")})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page, page[-3000:]
    assert db.session.scalar(select(func.count()).select_from(LtiPlatform)) == 0


def test_over_https_the_state_cookie_crosses_sites(app, registered, platform):
    """The launch is a cross-site POST: the state cookie is `SameSite=None; Secure` over https
    (a Lax cookie would not come with it), HttpOnly, and gone after the launch."""
    client = app.test_client()
    response = client.get("/lti/login", base_url="https://localhost", query_string={
        "iss": platform.issuer, "login_hint": "u-1001", "client_id": platform.client_id})
    assert response.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
    assert query["redirect_uri"] == "https://localhost/lti/launch"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"lti1p3-{query['state']}=") and "SameSite=None" in cookie
    assert "Secure" in cookie and "HttpOnly" in cookie
    done = client.post("/lti/launch", base_url="https://localhost", data={
        "state": query["state"], "id_token": platform.sign(platform.claims(query["nonce"]))})
    assert done.status_code == 303
    assert any(h.startswith(f"lti1p3-{query['state']}=;") for h in done.headers.getlist(
        "Set-Cookie"))
