"""The pins live in requirements*.txt (what the Quick-start scripts install) and are mirrored
in pyproject.toml: both must say the same, and every one must be an exact pin. The lab runs from
a checkout, and the packaging says so instead of installing half of it."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pins(path: Path) -> list[str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def test_requirements_and_pyproject_pin_the_same_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert pins(ROOT / "requirements.txt") == project["dependencies"]
    assert pins(ROOT / "requirements-dev.txt") == project["optional-dependencies"]["dev"]
    assert project["requires-python"] == ">=3.11"
    for pin in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z]+\])?==[0-9][0-9A-Za-z.]*", pin), pin


def test_the_packaging_installs_no_half_of_the_lab():
    """lab/ and roles/ read templates/, scenarios/ and migrations/ from the checkout: a wheel of
    the two packages alone would start without its pages (and put a top-level `roles` package
    into site-packages). pyproject.toml installs no package, and says why."""
    text = (ROOT / "pyproject.toml").read_text()
    assert tomllib.loads(text)["tool"]["setuptools"] == {"packages": []}
    assert "runs from a checkout" in text
    assert "runs from a checkout" in (ROOT / "README.md").read_text()
    from lab import ROOT as LAB_ROOT
    assert LAB_ROOT == ROOT
    for folder in ("templates", "scenarios", "migrations"):
        assert (ROOT / folder).is_dir(), folder
