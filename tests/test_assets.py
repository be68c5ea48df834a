"""Static files are linked with a fingerprint of their content and cached for a year under it
(lab/assets.py): a class loads lab.css, live.js and Bootstrap once per version, and a changed
file is fetched again because its address changes."""
import re

from flask import url_for


def linked(client, page="/auth/login") -> list[str]:
    html = client.get(page).get_data(as_text=True)
    return re.findall(r'(?:href|src)="(/(?:static|bootstrap)/[^"]*)"', html)


def test_every_page_asset_has_a_fingerprint_and_is_cached_for_a_year(client):
    urls = linked(client)
    assert {u.split("?")[0].rsplit("/", 1)[1] for u in urls} >= {
        "lab.css", "live.js", "page.js", "bootstrap.min.css", "bootstrap.min.js"}
    for url in urls:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.cache_control.max_age == 365 * 24 * 3600, url
        assert response.cache_control.immutable and response.cache_control.public, url


def test_without_the_current_fingerprint_a_file_is_only_revalidated(client):
    for url in ("/static/lab.css", "/static/lab.css?v=000000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.cache_control.max_age is None and not response.cache_control.immutable
    assert client.get("/static/../config.py?v=000000000000").status_code == 404


def test_a_changed_file_gets_a_new_address(app, tmp_path):
    (tmp_path / "x.js").write_text("one")
    app.static_folder = str(tmp_path)
    with app.test_request_context():
        first = url_for("static", filename="x.js")
        (tmp_path / "x.js").write_text("two, longer")
        second = url_for("static", filename="x.js")
        assert first != second and second.startswith("/static/x.js?v=")
        assert url_for("static", filename="missing.js") == "/static/missing.js"
