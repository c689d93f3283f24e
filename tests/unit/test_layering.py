"""The layering of docs/ARCHITECTURE.md and DESIGN, enforced over the source (import-linter style).

``cli/`` -> ``client.py`` -> ``runtime/`` -> ``store/`` -> ``registry/`` -> ``config.py``,
``reference.py`` -> ``errors.py``, over the native core: a room imports only rooms below it
(or itself), and a front end reaches the runtime, the store and the registry only through
``Client``, whose record and option types ``hybridock.client`` exports. Every import counts:
at the top, inside functions, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import hybridock

PACKAGE = Path(hybridock.__file__).parent

#: room -> its height; a module may import rooms of its height or lower. A new room gets a line
#: here where the map places it (DESIGN: "Growing the house").
RANKS = {
    "hybridock.__main__": 7,
    "hybridock.cli": 6,
    "hybridock.api": 6,  # the Engine API service: a front end beside the CLI
    "hybridock": 5,  # the package's face: hybridock.Client, hybridock.HybridockError
    "hybridock.client": 5,
    "hybridock.documents": 5,  # docker's documents, built once for every front end
    "hybridock.handles": 5,  # docker-py's collections and handles over Client
    "hybridock.build": 4,  # hybridock build: context, cache, step executor
    "hybridock.images": 4,  # what moves images in and out: push, save/load, commit
    "hybridock.runtime": 4,
    "hybridock.store": 3,
    "hybridock.build.dockerfile": 1,  # the Dockerfile language alone (commit -c uses it too)
    "hybridock.registry": 2,
    "hybridock.config": 1,
    "hybridock.reference": 1,
    "hybridock.unixsocket": 1,  # sockets bound without the process's umask (attach, the API)
    "hybridock.lazy": 0,  # a module's names imported on first use (client, registry)
    "hybridock.errors": 0,
    "hybridock._native": 0,
}
#: front ends go through Client, not around it
FRONT_ENDS = ("hybridock.cli", "hybridock.api")
BEHIND_CLIENT = (
    "hybridock.build",
    "hybridock.documents",
    "hybridock.images",
    "hybridock.runtime",
    "hybridock.store",
    "hybridock.registry",
    "hybridock._native",
)
#: Client's parts: a front end that reaches them (``state.client.runtime.stop(...)``) goes
#: around the methods as surely as an import would
CLIENT_PARTS = ("runtime", "container_store", "image_store", "registry", "database")


def module_name(path: Path) -> str:
    parts = ["hybridock", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    """The longest RANKS key that is ``module`` or a package above it."""
    candidates = [key for key in RANKS if module == key or module.startswith(f"{key}.")]
    if not candidates:
        raise AssertionError(f"{module} is in no room: add it to RANKS where the map puts it")
    return max(candidates, key=len)


def is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).is_dir() or any(
        (PACKAGE / relative).with_suffix(suffix).exists() for suffix in (".py", ".pyi")
    )


def imported(tree: ast.Module, module: str, *, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, module) of every hybridock module the tree imports."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name.startswith("hybridock"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            if not base.startswith("hybridock"):
                continue
            for alias in node.names:
                # `from hybridock import _native` imports a module; `import __version__` does not
                candidate = f"{base}.{alias.name}"
                yield node.lineno, candidate if is_module(candidate) else base


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def violations(path: Path) -> list[str]:
    module = module_name(path)
    here = room(module)
    tree = ast.parse(path.read_text(), str(path))
    found = []
    targets = imported(tree, module, is_package=path.name == "__init__.py")
    for line, target in dict.fromkeys(targets):  # one finding per module a line imports
        there = room(target)
        if RANKS[there] > RANKS[here]:
            found.append(f"{path.name}:{line}: {here} imports {target}, a higher room")
        if here in FRONT_ENDS and there in BEHIND_CLIENT:
            found.append(f"{path.name}:{line}: {here} imports {target}: use hybridock.client")
    if here in FRONT_ENDS:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in CLIENT_PARTS:
                found.append(f"{path.name}:{node.lineno}: {here} uses Client.{node.attr}")
    return found


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_module_imports_only_lower_rooms(path: Path) -> None:
    assert violations(path) == []


@pytest.mark.parametrize(
    ("source", "where", "expected"),
    [
        pytest.param(
            "from hybridock.runtime.containers import Container\n",
            "cli/x.py",
            ["x.py:1: hybridock.cli imports hybridock.runtime.containers: use hybridock.client"],
            id="cli-imports-runtime",
        ),
        pytest.param(
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from hybridock.store.images import ImageRecord\n",
            "cli/x.py",
            ["x.py:3: hybridock.cli imports hybridock.store.images: use hybridock.client"],
            id="cli-imports-store-for-annotations",
        ),
        pytest.param(
            "def stop(state):\n    state.client.runtime.stop()\n",
            "cli/x.py",
            ["x.py:2: hybridock.cli uses Client.runtime"],
            id="cli-reaches-around-client",
        ),
        pytest.param(
            "def f():\n    from hybridock.runtime import cgroups\n",
            "store/x.py",
            ["x.py:2: hybridock.store imports hybridock.runtime.cgroups, a higher room"],
            id="store-imports-runtime-in-a-function",
        ),
        pytest.param(
            "from hybridock.store.layout import Layout\n",
            "registry/x.py",
            ["x.py:1: hybridock.registry imports hybridock.store.layout, a higher room"],
            id="registry-imports-store",
        ),
        pytest.param(
            "from .. import client\n",
            "runtime/x.py",
            ["x.py:1: hybridock.runtime imports hybridock.client, a higher room"],
            id="relative-import-of-client",
        ),
        pytest.param(
            "from hybridock import _native\nfrom hybridock.client import Container\n",
            "cli/x.py",
            ["x.py:1: hybridock.cli imports hybridock._native: use hybridock.client"],
            id="cli-imports-native",
        ),
        pytest.param(
            "from hybridock import _native\nfrom hybridock.errors import StoreError\n",
            "store/x.py",
            [],
            id="store-imports-native-and-errors",
        ),
    ],
)
def test_violations_are_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, where: str, expected: list[str]
) -> None:
    fake_package = tmp_path / "hybridock"
    for part in ("cli", "store", "registry", "runtime", "runtime/containers", "store/images"):
        (fake_package / part).mkdir(parents=True, exist_ok=True)
    for module in ("client", "errors", "store/layout", "runtime/cgroups", "_native"):
        (fake_package / f"{module}.py").touch()
    path = fake_package / where
    path.write_text(source)
    monkeypatch.setattr(__name__ + ".PACKAGE", fake_package)
    assert violations(path) == expected
