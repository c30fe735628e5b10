"""The package's modules import each other in one direction: no circle anywhere, counting every
`interview_kit` import (at module level, inside functions, and under ``TYPE_CHECKING``); every module
imports on its own; the analysis builds on its format module."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

import interview_kit

PACKAGE = Path(interview_kit.__file__).parent


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = ["interview_kit", *file.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = file
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the `interview_kit` modules it imports anywhere in its source."""
    files = module_files()

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, file in files.items():
        targets: list[str] = []
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:  # relative: from the importing module's package
                    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{node.module}"
                targets += [f"{base}.{alias.name}" for alias in node.names]
        graph[name] = {r for t in targets if (r := resolve(t)) is not None and r != name}
    return graph


MODULES = sorted(module_files())


@pytest.mark.parametrize("module", MODULES)
def test_no_import_circle_through(module: str) -> None:
    graph = import_graph()
    path: dict[str, str] = {}  # module -> the one that led to it
    todo, seen = [module], {module}
    while todo:
        here = todo.pop()
        for there in graph.get(here, ()):
            if there == module:
                circle = [here]
                while circle[-1] != module:
                    circle.append(path[circle[-1]])
                pytest.fail(" -> ".join([module, *reversed(circle[:-1]), module]))
            if there not in seen:
                seen.add(there)
                path[there] = here
                todo.append(there)


def test_the_format_and_the_vad_padding_stand_alone() -> None:
    """The bottom layer: what the other analysis modules build on imports none of them."""
    graph = import_graph()
    for module in ("interview_kit.analysis.session_folder", "interview_kit.analysis.vad_padding"):
        assert not {m for m in graph[module] if m.startswith("interview_kit.analysis")}, module


def test_every_module_imports_on_its_own() -> None:
    """Each module imported first, into an interpreter holding no other `interview_kit` module (one
    subprocess for all: third-party libraries stay loaded, ours are dropped between modules)."""
    script = (
        "import importlib, sys, traceback\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'interview_kit']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name + ': ' + traceback.format_exc(limit=3))\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    importable = [m for m in MODULES if not m.endswith("__main__")]  # running it is its job
    done = subprocess.run([sys.executable, "-c", script, *importable], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
