"""The code stays within the project's lint rules (ruff.toml): unused imports, shadowed names, import order."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "--no-cache", str(REPO)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def imports_of(path: Path) -> set[str]:
    """Every module the file imports, wherever the import stands (a function-level import is still a dependency)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_module_of_common_imports_itself_back():
    """The shared app stays a tree: a cycle (fencing ↔ mongo was one) makes import order matter, and hides design."""
    modules = {f"common.{path.stem}": path for path in (REPO / "common").glob("*.py") if path.stem != "__init__"}
    graph = {name: imports_of(path) & modules.keys() for name, path in modules.items()}

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for imported in graph[path[-1]]:
            if imported == start:
                return path + [start]
            if imported not in path and (found := cycle_from(start, path + [imported])):
                return found
        return None

    cycles = [cycle for name in sorted(graph) if (cycle := cycle_from(name, [name]))]
    assert not cycles, cycles


def test_no_site_imports_another_site():
    """The sites talk only through Kafka: none reads another's code (or, through it, another's collections)."""
    apps = {site: [path.name for path in (REPO / site).iterdir() if (path / "apps.py").exists()]
            for site in (p.name for p in REPO.glob("*_site"))}
    crossings = []
    for site in apps:
        others = {app for other, names in apps.items() if other != site for app in names} | (apps.keys() - {site})
        for path in (REPO / site).rglob("*.py"):
            crossings += [(str(path.relative_to(REPO)), module) for module in imports_of(path)
                          if module.split(".")[0] in others]
    assert not crossings, crossings
