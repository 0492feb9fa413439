"""Dependencies point one way, by import and by name: the layer contracts below, and no import cycle.

The import graph is read with `ast` from the source (nothing is imported). It sees every reference to one of our
modules, wherever it is:
  - `import a.b` and `from a.b import c` (relative ones too), at module level and inside functions;
  - `importlib.import_module("a.b")` / `import_module("a.b")` / `__import__("a.b")` with a literal string;
  - by-name strings: Gymnasium-style entry points "a.b:Name" (register(entry_point=...), policy registries) and
    any string that is exactly the name of one of our modules (lazy dispatch tables).
Why not import-linter: it would be a new dependency, and it only sees import statements, not the
`importlib.import_module` strings and entry-point strings through which this tree names modules lazily.

To add a contract, add a row to RULES. To allow one lazy reference, add it to the row's `lazy_ok`.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "worldmodel", "agents")


@dataclass(frozen=True)
class Rule:
    """Modules under `source` may not reference modules under any of `forbidden` (prefixes, dotted);
    `lazy_ok` maps a module to the forbidden targets it may still reference lazily (inside a function or by name,
    never at module level)."""

    source: str
    forbidden: tuple[str, ...]
    lazy_ok: dict[str, tuple[str, ...]] = field(default_factory=dict)


WM = "worldmodel."
# fmt: off
RULES: tuple[Rule, ...] = (
    # source              may not import (any module under these)
    Rule("envs",             ("worldmodel", "agents")),
    Rule("worldmodel",       ("agents",),
         lazy_ok={"worldmodel.cli": ("agents.cli",)}),  # the `wm` dispatcher imports `wm agent` lazily
    Rule("worldmodel.data",  tuple(WM + m for m in ("tokenizer", "dynamics", "fusion", "rollout", "model", "dream",
                                                    "probes", "viewer", "train", "bench", "evaluation"))),
    # the tokenizer may import worldmodel.fusion.net (the frame-fusion net it carries)
    Rule("worldmodel.tokenizer", tuple(WM + m for m in ("dynamics", "model", "dream", "probes", "viewer", "train"))),
    Rule("worldmodel.dynamics",  tuple(WM + m for m in ("model", "dream", "probes", "viewer"))),
    # the one Trainer (train.trainer, train.config) serves every trainable module, the probes' auxiliary models
    # included; the `wm train` command line and its run configs stay above what they train
    Rule("worldmodel.dream",     (WM + "train",)),
    Rule("worldmodel.viewer",    (WM + "train",)),
    Rule("worldmodel.probes",    (WM + "train.cli", WM + "train.runs")),
    Rule("worldmodel.rollout",   tuple(WM + m for m in ("model", "dream", "probes", "viewer", "train", "evaluation"))),
)
# fmt: on

ENTRY_POINT = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):[A-Za-z_]\w*$")
IMPORT_FUNCTIONS = ("import_module", "__import__")


@dataclass(frozen=True)
class Ref:
    """One reference from module `source` to module `target` at `line`; `eager` when it runs on import (a module
    level import statement or import_module call, not inside a function, not under `if TYPE_CHECKING`)."""

    source: str
    target: str
    line: int
    eager: bool
    how: str


def under(name: str, prefix: str) -> bool:
    """True when module `name` is `prefix` or inside it (a.b is under a, a.bc is not)."""
    return name == prefix or name.startswith(prefix + ".")


def discover(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Module name -> file, for every .py file of `packages` under `root` (a package is its __init__.py)."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that `name` lands in (the longest existing prefix), or None when it is not ours."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


class _Visitor(ast.NodeVisitor):
    """Collects the references of one module; `depth` > 0 inside functions, `typing_only` under TYPE_CHECKING."""

    def __init__(self, module: str, is_package: bool, modules: dict[str, Path]) -> None:
        self.module, self.modules = module, modules
        self.package = module if is_package else module.rpartition(".")[0]
        self.depth, self.typing_only = 0, False
        self.refs: list[Ref] = []

    def add(self, name: str, node: ast.AST, how: str, statement: bool = True) -> None:
        target = resolve(name, self.modules)
        if target is not None and target != self.module:
            eager = statement and self.depth == 0 and not self.typing_only
            self.refs.append(Ref(self.module, target, getattr(node, "lineno", 0), eager, how))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(alias.name, node, "import")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            self.add(sub if sub in self.modules else base, node, "from-import")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in IMPORT_FUNCTIONS and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self.add(arg.value, node, name)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            match = ENTRY_POINT.match(node.value)
            if match:
                self.add(match.group(1), node, "entry point string", statement=False)
            elif node.value in self.modules:
                self.add(node.value, node, "module name string", statement=False)

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            saved, self.typing_only = self.typing_only, True
            for child in node.body:
                self.visit(child)
            self.typing_only = saved
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)


def scan(root: Path, packages: tuple[str, ...]) -> list[Ref]:
    """Every reference between our modules under `root`."""
    modules = discover(root, packages)
    refs: list[Ref] = []
    for name, path in modules.items():
        visitor = _Visitor(name, path.name == "__init__.py", modules)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        refs += visitor.refs
    return refs


def violations(refs: list[Ref], rules: tuple[Rule, ...]) -> list[str]:
    """One line per reference that breaks a rule (file:line, what, and the rule)."""
    found = []
    for ref in refs:
        for rule in rules:
            if not under(ref.source, rule.source) or under(ref.target, rule.source):
                continue
            bad = [f for f in rule.forbidden if under(ref.target, f)]
            allowed = rule.lazy_ok.get(ref.source, ())
            if bad and not (not ref.eager and any(under(ref.target, a) for a in allowed)):
                where = "module level" if ref.eager else "lazy"
                found.append(f"{ref.source}:{ref.line} references {ref.target} ({ref.how}, {where}): "
                             f"{rule.source} may not use {bad[0]}")
    return found


def module_graph(refs: list[Ref]) -> dict[str, set[str]]:
    """Edges that run on import: each eager reference to its target and to the target's parent packages (Python
    runs their __init__ first). A parent package of the importer itself is left out when it is only implied
    (`import a.b.c` inside a.b.x): it is already in sys.modules when a.b.x runs, so the edge is harmless and
    would make every package whose __init__ imports a submodule a false cycle. Named directly (`from a.b import
    name` inside a.b.x) it stays an edge: that name may not be defined yet."""
    graph: dict[str, set[str]] = {}
    for ref in refs:
        graph.setdefault(ref.source, set())
        if not ref.eager:
            continue
        parts = ref.target.split(".")
        parents = [".".join(parts[:k]) for k in range(1, len(parts))]
        graph[ref.source].add(ref.target)
        graph[ref.source].update(p for p in parents if not under(ref.source, p))
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle (a list of modules, first repeated last) for each strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm (the graph is small: recursion is fine)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_shortest_cycle(graph, set(component), component[0]) for component in components]


def _shortest_cycle(graph: dict[str, set[str]], members: set[str], start: str) -> list[str]:
    """Breadth-first from `start` back to it, staying inside the component."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, set()) & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return path[::-1] + [start]
                if nxt not in parents:
                    parents[nxt] = node
                    following.append(nxt)
        frontier = following
    return [start]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Overrides conftest's fixture of the same name: these tests need no torch (importing it takes seconds)."""
    yield


@lru_cache(maxsize=1)
def tree_scan() -> tuple[tuple[Ref, ...], float]:
    """The references of this repository and the seconds the scan took (scanned once per session)."""
    start = time.perf_counter()
    refs = tuple(scan(ROOT, PACKAGES))
    return refs, time.perf_counter() - start


def tree_refs() -> tuple[Ref, ...]:
    """The references of this repository."""
    return tree_scan()[0]


@pytest.mark.parametrize("rule", RULES, ids=[rule.source for rule in RULES])
def test_layer_contract(rule: Rule) -> None:
    problems = violations(list(tree_refs()), (rule,))
    assert not problems, "upward dependency:\n  " + "\n  ".join(problems)


def test_no_import_cycle() -> None:
    cycles = find_cycles(module_graph(list(tree_refs())))
    assert not cycles, "import cycle(s):\n  " + "\n  ".join(" -> ".join(cycle) for cycle in cycles)


def test_scan_sees_lazy_references_in_this_tree() -> None:
    """The checker must see this tree's lazy references, or it could pass by seeing nothing."""
    refs = tree_refs()
    assert any(r.source == "worldmodel.cli" and r.target == "agents.cli" and not r.eager for r in refs)
    assert any(r.source == "worldmodel.dream" and r.target == "worldmodel.dream.env" and r.how == "entry point string"
               for r in refs)
    assert tree_scan()[1] < 1.5  # the whole file must stay well under 2 s


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_catches_planted_upward_references(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "app/__init__.py": "",
        "app/low/__init__.py": "",
        "app/low/fine.py": "import os\nfrom app.low import util\nfrom . import util as again\n",
        "app/low/util.py": "",
        "app/low/eager.py": "from app.high.top import thing\n",
        "app/low/inner.py": "def f():\n    import app.high.top\n",
        "app/low/dynamic.py": "import importlib\n\ndef f():\n    return importlib.import_module('app.high.top')\n",
        "app/low/named.py": "ENTRY = 'app.high.top:Thing'\n",
        "app/low/relative.py": "from ..high import top\n",
        # a type-only import is still an upward dependency (it is left out of the cycle check only)
        "app/low/typing_only.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import app.high\n",
        "app/high/__init__.py": "",
        "app/high/top.py": "import app.low.util\n",
    })
    refs = scan(tmp_path, ("app",))
    found = violations(refs, (Rule("app.low", ("app.high",)),))
    sources = sorted({line.split(":")[0] for line in found})
    assert sources == ["app.low.dynamic", "app.low.eager", "app.low.inner", "app.low.named", "app.low.relative",
                       "app.low.typing_only"]
    lazy_ok = Rule("app.low", ("app.high",), lazy_ok={"app.low.inner": ("app.high",), "app.low.eager": ("app.high",)})
    still = {line.split(":")[0] for line in violations(refs, (lazy_ok,))}
    assert "app.low.inner" not in still and "app.low.eager" in still  # never excuses a module-level import


def test_checker_catches_a_planted_cycle(tmp_path: Path) -> None:
    _plant(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": "from pkg.c import f\n",
        "pkg/c.py": "from pkg import a\n",
        "pkg/lazy_x.py": "def f():\n    import pkg.lazy_y\n",
        "pkg/lazy_y.py": "import pkg.lazy_x\n",
        "other/__init__.py": "import other.sub\nVALUE = 1\n",
        "other/sub.py": "from other.leaf import x\n",  # implies other/__init__: already running, no cycle
        "other/leaf.py": "",
        "third/__init__.py": "from third.sub import f\nVALUE = 1\n",
        "third/sub.py": "from third import VALUE\n",  # a name of the parent: not defined yet, a cycle
    })
    cycles = find_cycles(module_graph(scan(tmp_path, ("pkg", "other", "third"))))
    assert sorted(cycles) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"], ["third", "third.sub", "third"]]


def test_a_package_init_importing_its_parent_chain_is_a_cycle(tmp_path: Path) -> None:
    """`import a.b.c` runs a/__init__ and a/b/__init__ too: an __init__ that imports a module which imports a
    sibling package's __init__ that imports back is a cycle."""
    _plant(tmp_path, {
        "a/__init__.py": "from a.x import y\n",
        "a/x.py": "import b.z\n",
        "b/__init__.py": "import a\n",
        "b/z.py": "",
    })
    cycles = find_cycles(module_graph(scan(tmp_path, ("a", "b"))))
    assert len(cycles) == 1 and set(cycles[0]) == {"a", "a.x", "b"}
