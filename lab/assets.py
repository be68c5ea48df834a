"""Static files with fingerprints: every url_for of a static file (the lab's, Bootstrap's) carries
`?v=<hash of the file>`, and a request with the current hash is answered with a year-long,
immutable cache. A browser then loads lab.css, live.js and Bootstrap once per version instead of
asking again on every page of a class; a changed file gets a new address. A request without the
hash (or with an old one) is served as before: cached only with revalidation."""
from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, current_app, request

YEAR = 365 * 24 * 3600
_fingerprints: dict[tuple[str, int, int], str] = {}


def _folder(endpoint: str) -> str | None:
    if endpoint == "static":
        return current_app.static_folder
    blueprint = current_app.blueprints.get(endpoint.rpartition(".")[0])
    return blueprint.static_folder if blueprint is not None else None


def fingerprint(endpoint: str, filename: str) -> str | None:
    """A short hash of the static file's content (None: no such file)."""
    folder = _folder(endpoint)
    if folder is None:
        return None
    path = Path(folder) / filename
    try:
        root, stat = Path(folder).resolve(), path.stat()
        if not path.resolve().is_relative_to(root):
            return None
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _fingerprints:
        _fingerprints[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return _fingerprints[key]


def _is_static(endpoint: str | None) -> bool:
    return bool(endpoint) and (endpoint == "static" or endpoint.endswith(".static"))


def _add_fingerprint(endpoint: str, values: dict) -> None:
    if _is_static(endpoint) and "filename" in values and "v" not in values:
        version = fingerprint(endpoint, values["filename"])
        if version:
            values["v"] = version


def _cache_fingerprinted(response):
    endpoint = request.endpoint
    if _is_static(endpoint) and response.status_code in (200, 304):
        version = request.args.get("v")
        filename = (request.view_args or {}).get("filename", "")
        if version and version == fingerprint(endpoint, filename):
            response.cache_control.public = True
            response.cache_control.max_age = YEAR
            response.cache_control.immutable = True
            response.cache_control.no_cache = None
    return response


def register(app: Flask) -> None:
    app.url_defaults(_add_fingerprint)
    app.after_request(_cache_fingerprinted)
