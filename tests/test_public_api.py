"""Explicit public surface and the architecture rules of DESIGN.md, checked on the source."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

PACKAGES = ("hrv", "sensor", "server", "dashboard")
ROOT = Path(__file__).resolve().parent.parent
#: Third-party modules of optional extras; a module needing one that is absent is skipped.
OPTIONAL_DEPENDENCIES = frozenset({"pylsl", "bumble"})


def _modules() -> list[str]:
    names = []
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        names.append(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg_name}."):
            leaf = info.name.rsplit(".", 1)[-1]
            if leaf.startswith("_") or ".migrations" in info.name:
                continue
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_all_lists_exactly_the_public_members(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in OPTIONAL_DEPENDENCIES:
            raise
        pytest.skip(f"{name} needs the optional dependency {exc.name}")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ names missing {member!r}"
    defined_here = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        # pydantic registers parametrized generics (e.g. "RootModel[dict[...]]") in the module
        # namespace under names that are not identifiers: not part of the source's surface
        and n.isidentifier()
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == name
    }
    missing = defined_here - set(exported)
    assert not missing, f"{name} defines public {sorted(missing)} but leaves them out of __all__"


_IMPURE = {
    "logging", "os", "time", "datetime", "pathlib", "io", "socket", "asyncio", "random",
    "sqlalchemy", "fastapi", "starlette", "plotly", "bleak", "matplotlib", "threading",
    "sensor", "server", "dashboard",
}  # fmt: skip


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "hrv").glob("*.py")), ids=lambda p: p.name)
def test_hrv_is_pure(path: Path) -> None:
    """hrv/ does maths only: no I/O, clock, logging, framework or other Sintonia package."""
    bad = _imports(path) & _IMPURE
    assert not bad, f"hrv/{path.name} imports {sorted(bad)}"


def test_only_sensor_ble_imports_bleak() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if "bleak" in _imports(p) and p.relative_to(ROOT).as_posix() != "sensor/ble.py"
    ]
    assert offenders == []


@pytest.mark.parametrize("pkg_name", PACKAGES)
def test_no_export_shadows_a_submodule(pkg_name: str) -> None:
    """`from hrv import time_domain` must give the module, never a function of the same name."""
    pkg = importlib.import_module(pkg_name)
    submodules = {info.name for info in pkgutil.iter_modules(pkg.__path__)}
    assert not submodules & set(pkg.__all__)
