"""The layers of DESIGN.md §4 hold: the engine imports nothing above it (no runs, scenario,
grading, rules, bots or classroom; no flask.g or flask.request), and lab/errors.py imports nothing
from the lab. Late imports inside functions count too: they are how cycles hide."""
import ast
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent / "lab"
ABOVE_THE_ENGINE = {"runs", "scenario", "grading", "rules", "plan", "bots", "headless",
                    "practice", "classroom", "live", "views", "auth", "cli", "demo", "startup"}


def imports(path: Path) -> list[tuple[str, int]]:
    """(module imported, relative level) for every import in the file, nested ones too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            found.append((module, node.level))
            if module == "flask":
                found += [(f"flask.{alias.name}", 0) for alias in node.names]
    return found


def lab_module(path: Path, module: str, level: int) -> str:
    """The lab module an import names, as a path under lab/ ('runs', 'engine.core', …)."""
    if level == 0:
        return module.removeprefix("lab.") if module.startswith("lab.") else ""
    package = path.relative_to(LAB).parent.parts
    base = package[:len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, module] if module else base)


def test_the_engine_imports_nothing_above_it():
    offences = []
    for path in sorted((LAB / "engine").rglob("*.py")):
        for module, level in imports(path):
            top = lab_module(path, module, level).split(".")[0]
            if top in ABOVE_THE_ENGINE or top == "roles" or module.startswith("roles") or \
                    module in ("flask.g", "flask.request", "flask.session"):
                offences.append(f"{path.relative_to(LAB.parent)} imports {module or '.'}")
    assert offences == []


def test_errors_import_nothing_from_the_lab():
    path = LAB / "errors.py"
    assert [m for m, level in imports(path) if level or m.startswith("lab")] == []
