"""The layering contract of STYLE.md, checked on the source (``ast`` only, nothing imported).

Every ``.py`` file of the project packages is parsed and every ``import`` / ``from … import``
in it — module level or nested in a function — is resolved to the module it loads (relative
imports included; ``from pkg import name`` is the submodule ``pkg.name`` when that exists,
else ``pkg`` itself, i.e. its ``__init__``). The rules are a table (``RULES``); each one is its
own test and names every offending ``file:line → module``. A self-test runs the checker on a
synthetic tree that breaks each rule, so a rule that can no longer fail fails itself.
"""
import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("csc", "Phase_1_CNN", "CSC_Application", "baselines", "batch")
STAGES = ("Phase_1_CNN", "CSC_Application", "baselines", "batch")
TENSORFLOW = ("keras", "tensorflow")
CLI = "csc.cli"          # the CLI package (one module per command); may import stages lazily
BACKEND = "csc.backend"  # the one module that imports TensorFlow / Keras
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


# --------------------------------------------------------------------------------------------
# the checker
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Import:
    """One module loaded by one import statement."""

    path: str       # importing file, relative to the root
    line: int
    importer: str   # dotted name of the importing module
    target: str     # dotted name of the module loaded
    nested: bool    # the statement is inside a function

    def __str__(self):
        return f"{self.path}:{self.line} → {self.target}"


@dataclasses.dataclass
class Project:
    modules: dict   # dotted name -> path of every module of the packages
    imports: list   # every Import, in file and line order


def top(name):
    return name.split(".")[0]


def within(name, package):
    return name == package or name.startswith(package + ".")


def is_cli(module):
    return within(module, CLI)


def is_core(module):
    """The shared core: every ``csc`` module but the CLI package and ``csc.__main__``."""
    return top(module) == "csc" and not is_cli(module) and module != "csc.__main__"


def module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _statements(tree):
    """(node, nested) for every import statement anywhere in ``tree``."""
    stack = [(tree, False)]
    while stack:
        node, nested = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, nested
            stack.append((child, nested or isinstance(child, FUNCTIONS)))


def _resolve(name, modules):
    """The deepest project module ``name`` loads (itself when not a project module)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return name


def _targets(node, importer, is_package, modules):
    if isinstance(node, ast.Import):
        return [_resolve(alias.name, modules) for alias in node.names]
    base = node.module or ""
    if node.level:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        up = node.level - 1
        if up > len(package) - 1:
            return [f"<relative import beyond top-level package: level {node.level}>"]
        package = package[:len(package) - up]
        base = ".".join(package + ([node.module] if node.module else []))
    found = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        found.append(sub if sub in modules else _resolve(base, modules))
    return list(dict.fromkeys(found))  # one per module: `from m import a, b` loads m once


def scan(root, packages=PACKAGES):
    """Every module of ``packages`` under ``root`` and every import in it."""
    root = Path(root)
    files = sorted(p for package in packages if (root / package).is_dir()
                   for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)
    modules = {module_name(p, root): p for p in files}
    imports = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        importer = module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node, nested in _statements(tree):
            for target in _targets(node, importer, path.name == "__init__.py", modules):
                imports.append(Import(rel, node.lineno, importer, target, nested))
    imports.sort(key=lambda i: (i.path, i.line, i.target))
    return Project(modules, imports)


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    contract: str
    breaks: Callable[[Import], bool]


RULES = (
    Rule("core-imports-no-stage",
         "the core csc (all but the CLI package csc.cli and csc.__main__) imports no stage "
         f"({', '.join(STAGES)})",
         lambda i: is_core(i.importer) and top(i.target) in STAGES),
    Rule("phase-one-imports-no-later-stage",
         "Phase_1_CNN imports neither CSC_Application, baselines nor batch",
         lambda i: (top(i.importer) == "Phase_1_CNN"
                    and top(i.target) in ("CSC_Application", "baselines", "batch"))),
    Rule("baselines-import-not-the-method",
         "baselines imports neither CSC_Application nor batch",
         lambda i: top(i.importer) == "baselines" and top(i.target) in ("CSC_Application",
                                                                        "batch")),
    Rule("only-cli-imports-batch",
         "only the CLI package csc.cli (and batch itself) imports batch",
         lambda i: (top(i.target) == "batch" and not is_cli(i.importer)
                    and top(i.importer) != "batch")),
    Rule("project-imports-at-module-level",
         "project modules are imported at module level; only the CLI package csc.cli imports "
         "them inside functions (so `csc --help` stays fast)",
         lambda i: i.nested and top(i.target) in PACKAGES and not is_cli(i.importer)),
    Rule("tensorflow-only-in-backend",
         "keras / tensorflow are imported by csc.backend only; elsewhere call "
         "csc.backend.load_keras() / load_tensorflow() inside the function that needs them",
         lambda i: top(i.target) in TENSORFLOW and i.importer != BACKEND),
)


def violations(project, rule):
    return [i for i in project.imports if rule.breaks(i)]


def import_graph(project):
    """module -> {imported project module: first Import of it}; self-imports left out."""
    graph = {m: {} for m in project.modules}
    for i in project.imports:
        if i.target in project.modules and i.target != i.importer:
            graph[i.importer].setdefault(i.target, i)
    return graph


def find_cycles(project):
    """One import cycle (a list of Imports, each importing the next) per strongly connected
    component of more than one module (Tarjan)."""
    graph = import_graph(project)
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_cycle_in(graph, sorted(c)[0], c) for c in components]


def _cycle_in(graph, start, component):
    """The shortest path of imports from ``start`` back to itself inside ``component``."""
    came = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in component or w in came:
                    continue
                came[w] = graph[v][w]
                if w == start:
                    path, node = [], start
                    while True:
                        path.append(came[node])
                        node = came[node].importer
                        if node == start:
                            return path[::-1]
                nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def describe_cycle(cycle):
    modules = " → ".join([cycle[0].importer] + [i.target for i in cycle])
    return modules + "\n" + "\n".join(f"    {i}" for i in cycle)


# --------------------------------------------------------------------------------------------
# the contract on this repository
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project():
    return scan(ROOT)


def test_every_package_is_scanned(project):
    missing = [p for p in PACKAGES if p not in project.modules]
    assert not missing, f"no {'/'.join(missing)}/__init__.py under {ROOT}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_layering(project, rule):
    broken = violations(project, rule)
    assert not broken, (f"{rule.contract}; {len(broken)} import(s) break it:\n"
                        + "\n".join(f"  {i}" for i in broken))


def test_no_import_cycle(project):
    cycles = find_cycles(project)
    assert not cycles, ("project modules import each other in a cycle:\n"
                        + "\n".join(describe_cycle(c) for c in cycles))


CLI_PROBES = {
    "import csc.cli": "import csc.cli",
    "csc --help": ("import runpy\nsys.argv = ['csc', '--help']\ntry:\n"
                   "    runpy.run_module('csc', run_name='__main__', alter_sys=True)\n"
                   "except SystemExit as exc:\n"
                   "    if exc.code:\n"
                   "        raise\n"),
}


@pytest.mark.parametrize("probe", sorted(CLI_PROBES))
def test_cli_does_not_load_tensorflow(probe):
    if not ((ROOT / "csc" / "cli" / "__init__.py").is_file()
            or (ROOT / "csc" / "cli.py").is_file()):
        pytest.skip("csc.cli does not exist yet (neither csc/cli/__init__.py nor csc/cli.py)")
    code = ("import json, sys\n" + CLI_PROBES[probe] + "\n"
            "print('LOADED=' + json.dumps(sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {TENSORFLOW!r})))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"`{probe}` failed:\n{done.stderr[-3000:]}"
    loaded = json.loads(done.stdout.strip().splitlines()[-1].removeprefix("LOADED="))
    assert not loaded, f"`{probe}` loads {', '.join(loaded[:5])}; import them lazily"


# --------------------------------------------------------------------------------------------
# the checker can fail: a synthetic tree breaking each rule
# --------------------------------------------------------------------------------------------
#: a tree that keeps every rule, with each allowed exception used once
CLEAN = {
    "csc/__init__.py": "__version__ = '0'\n",
    "csc/__main__.py": "from csc.cli import main\n",
    "csc/backend.py": "def load_keras():\n    import keras\n    return keras\n",
    "csc/tiling.py": "import numpy as np\n",
    "csc/cli/__init__.py": "import click\nfrom . import train\n",
    "csc/cli/train.py": ("def train():\n    from Phase_1_CNN.training import fit\n"
                         "    from batch.runner import run_sweep\n"),
    "Phase_1_CNN/__init__.py": "",
    "Phase_1_CNN/dataset.py": "from csc.backend import load_keras\nfrom csc import tiling\n",
    "Phase_1_CNN/tiles.py": "from .dataset import load_keras\nfrom csc.tiling import np\n",
    "Phase_1_CNN/training.py": "from Phase_1_CNN import dataset, tiles\n",
    "CSC_Application/__init__.py": "",
    "CSC_Application/run.py": ("from Phase_1_CNN import tiles\nfrom baselines import features\n"
                               "def go():\n    import numpy as np\n"),
    "baselines/__init__.py": "",
    "baselines/features.py": "from csc.tiling import np\n",
    "batch/__init__.py": "",
    "batch/jobs.py": "import csv\n",
    "batch/runner.py": "from batch.jobs import csv\nfrom . import jobs\nfrom CSC_Application import run\n",
}

#: rule -> (files replacing or adding to CLEAN, the offending "file:line → module")
BROKEN = {
    "core-imports-no-stage": (
        {"csc/tiling.py": "import numpy as np\nfrom Phase_1_CNN import tiles\n"},
        "csc/tiling.py:2 → Phase_1_CNN.tiles"),
    "phase-one-imports-no-later-stage": (
        {"Phase_1_CNN/training.py": "import CSC_Application.run as run\n"},
        "Phase_1_CNN/training.py:1 → CSC_Application.run"),
    "baselines-import-not-the-method": (
        {"baselines/features.py": "from CSC_Application.run import go\n"},
        "baselines/features.py:1 → CSC_Application.run"),
    "only-cli-imports-batch": (
        {"CSC_Application/run.py": "import os\nfrom batch import runner\n"},
        "CSC_Application/run.py:2 → batch.runner"),
    "project-imports-at-module-level": (
        {"Phase_1_CNN/tiles.py": "class A:\n    def f(self):\n        from . import dataset\n"},
        "Phase_1_CNN/tiles.py:3 → Phase_1_CNN.dataset"),
    "tensorflow-only-in-backend": (
        {"csc/tiling.py": "try:\n    from tensorflow import keras\nexcept ImportError:\n    pass\n"},
        "csc/tiling.py:2 → tensorflow"),
}

#: a cycle through a function-level import and a relative one
CYCLE = {
    "Phase_1_CNN/dataset.py": "def f():\n    from Phase_1_CNN.tiles import x\n",
    "Phase_1_CNN/tiles.py": "from .training import y\n",
}


def write_tree(root, files):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return scan(root)


def test_self_test_covers_every_rule():
    assert sorted(BROKEN) == sorted(r.name for r in RULES)


def test_clean_tree_keeps_every_rule(tmp_path):
    tree = write_tree(tmp_path, CLEAN)
    assert "Phase_1_CNN.tiles" in tree.modules and "csc.cli.train" in tree.modules
    for rule in RULES:
        assert violations(tree, rule) == [], rule.name
    assert find_cycles(tree) == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_reports_a_violation(tmp_path, rule):
    files, expected = BROKEN[rule.name]
    tree = write_tree(tmp_path, {**CLEAN, **files})
    assert [str(i) for i in violations(tree, rule)] == [expected]


def test_cycle_is_reported(tmp_path):
    tree = write_tree(tmp_path, {**CLEAN, **CYCLE})
    cycles = find_cycles(tree)
    assert len(cycles) == 1
    assert [str(i) for i in cycles[0]] == ["Phase_1_CNN/dataset.py:2 → Phase_1_CNN.tiles",
                                           "Phase_1_CNN/tiles.py:1 → Phase_1_CNN.training",
                                           "Phase_1_CNN/training.py:1 → Phase_1_CNN.dataset"]
    assert describe_cycle(cycles[0]).startswith(
        "Phase_1_CNN.dataset → Phase_1_CNN.tiles → Phase_1_CNN.training → Phase_1_CNN.dataset")


@pytest.mark.parametrize("source, importer, is_package, expected", [
    ("from . import b", "pkg.a", False, ["pkg.b"]),
    ("from . import name", "pkg.a", False, ["pkg"]),
    ("from .. import b", "pkg.sub.a", False, ["pkg.b"]),
    ("from .a import name", "pkg.sub", True, ["pkg.sub.a"]),
    ("from . import a", "pkg.sub", True, ["pkg.sub.a"]),
    ("import pkg.sub.a.name", "x", False, ["pkg.sub.a"]),
    ("from pkg.sub import a, name", "x", False, ["pkg.sub.a", "pkg.sub"]),
    ("from pkg.sub import *", "x", False, ["pkg.sub"]),
    ("from pkg.sub import name, other", "x", False, ["pkg.sub"]),
    ("import numpy.linalg", "x", False, ["numpy.linalg"]),
])
def test_imports_resolve_to_modules(source, importer, is_package, expected):
    modules = {"pkg", "pkg.b", "pkg.sub", "pkg.sub.a"}
    assert _targets(ast.parse(source).body[0], importer, is_package, modules) == expected


def test_relative_import_beyond_the_top_is_reported():
    node = ast.parse("from .. import x").body[0]
    assert _targets(node, "pkg.a", False, {"pkg", "pkg.a"})[0].startswith("<relative import")
