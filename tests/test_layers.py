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
    "callbacks": 0,
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


def module_name(path: Path) -> str:
    parts = ["gatepay_wsgi", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules that importing it runs, from every import statement
    (under ``if TYPE_CHECKING:`` and inside functions too: a cycle that only shows when a
    function runs, or when mypy follows the types, is still a cycle).

    ``from pkg.sub import x`` runs ``pkg/__init__.py`` first, so it counts, except for a
    module's own packages (already running when it is imported: ``from .x import y``
    inside ``pkg`` depends on ``pkg.x`` only). ``from pkg import sub`` names the submodule.
    """
    paths = {module_name(path): path for path in modules()}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                parts = base if node.level else []
                module = ".".join([*parts, *([node.module] if node.module else [])])
                submodules = [f"{module}.{a.name}" for a in node.names]
                submodules = [s for s in submodules if s in paths]
                targets += submodules
                if len(submodules) < len(node.names):  # a name defined in module itself
                    targets.append(module)
        graph[name] = set()
        for target in targets:
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):
                runs = ".".join(parts[:depth])
                if runs in paths and runs != name and (runs == target or runs not in own):
                    graph[name].add(runs)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle as ``[a, b, ..., a]``: for every module, the shortest way back to it."""
    found: dict[frozenset[str], list[str]] = {}
    for start in sorted(graph):
        came_from: dict[str, str] = {}
        queue = [start]
        while queue and start not in came_from:
            module = queue.pop(0)
            for target in sorted(graph[module]):
                if target not in came_from:
                    came_from[target] = module
                    queue.append(target)
        if start in came_from:
            way = [start]
            while way[-1] != start or len(way) == 1:
                way.append(came_from[way[-1]])
            found.setdefault(frozenset(way), way[::-1])
    return list(found.values())


def test_no_module_imports_itself_through_others():
    # A cycle works or breaks by which module happens to be imported first, and it ties
    # the modules on it into one: break it by moving what both need to a lower module.
    cycles = [" -> ".join(cycle) for cycle in import_cycles(import_graph())]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_import_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "gatepay_wsgi.inbox.step" in graph["gatepay_wsgi.inbox"]  # from .step import
    assert "gatepay_wsgi.signals" in graph["gatepay_wsgi.inbox.step"]  # from .. import signals
    assert "gatepay_wsgi.inbox" not in graph["gatepay_wsgi.inbox.step"]  # its own package
    assert "gatepay_wsgi.console" in graph["gatepay_wsgi.config"]  # inside a function
    assert "gatepay_wsgi.inbox.records" in graph["gatepay_wsgi.inbox.leases"]  # TYPE_CHECKING
