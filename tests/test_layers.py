"""The README's layout, checked: imports go one way, from the bottom up, and no module
imports another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gatepay_wsgi"
LAYERS = {  # module (or package) -> layer; a module may import only from layers <= its own
    "errors": 0,
    "signing": 0,
    "messages": 0,
    "gateway_codes": 0,
    "signals": 0,
    "inbox": 1,
    "request_fields": 2,
    "pages": 2,
    "buyer_pages": 2,
    "languages": 2,
    "endpoints": 2,
    "notify": 2,
    "middleware": 2,
}
TOOLS = 3  # every other module: outbound, config, client, testing, sandbox, demo, cli, ...
FRAMEWORKS = ("flask", "django", "pyramid", "bottle", "webob", "paste")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def top(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0] if parts[0] != "__init__" else "__init__"


def imported(path: Path) -> list[tuple[str, list[str]]]:
    """``(top-level module of gatepay_wsgi, names)`` for each import of the package."""
    tree = ast.parse(path.read_text())
    depth = len(path.relative_to(PACKAGE).parts) - 1
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(path.relative_to(PACKAGE).parts[:depth])
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.startswith("gatepay_wsgi"):
                target = node.module.split(".")[1:]
            else:
                continue
            names = [alias.name for alias in node.names]
            if not target:  # `from .. import signals`: each name is a module of the package
                found.extend((name, []) for name in names)
                continue
            found.append((target[0], names))
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_one_way_and_never_take_a_private_name(path):
    here = LAYERS.get(top(path), TOOLS)
    for target, names in imported(path):
        # No private name from another module, inside its own package too (inbox/sql.py
        # taking inbox/base.py's _x would tie the two as tightly as one module).
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{path.name} imports private {private} from {target}"
        if target != top(path):  # its own package: any module of it
            assert LAYERS.get(target, TOOLS) <= here, f"{path.name} imports {target}, above"


@pytest.mark.parametrize(
    "path", [p for p in modules() if LAYERS.get(top(p), TOOLS) < TOOLS], ids=lambda p: p.name
)
def test_the_core_storage_and_glue_import_no_framework(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and not node.level
            else []
        )
        for name in names:
            assert name.split(".")[0] not in FRAMEWORKS, f"{path.name} imports {name}"
            if LAYERS[top(path)] == 0:
                assert not name.startswith(("werkzeug", "markupsafe")), f"{path.name}: {name}"
