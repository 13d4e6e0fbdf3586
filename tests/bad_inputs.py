"""The harness of the bad-input tables (``tests/test_bad_inputs*.py``).

A table row is a :class:`Case`: a ``csc`` command line (with ``{name}`` placeholders for the
paths of a :class:`Workspace`), an optional ``setup`` that damages the workspace first, the
expected exit code and a regular expression the one stderr line must match. :func:`check`
runs the command the way a user would (the click group, in this process), then asserts what a
user would notice: the exit code, exactly one line on stderr naming the file or option, and
every file that existed before byte-identical afterwards (no new hidden files either).
"""
import dataclasses
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "CSC_Application"))

from phase2_data import (nearest_mean_model, save_model, wavy_labels,  # noqa: E402
                         write_scene)

from csc.cli import cli  # noqa: E402

SHAPE = (64, 96)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    args: tuple                  # the csc command line; "{image}" etc. name workspace paths
    match: str                   # regular expression the single stderr line must match
    setup: object = None         # callable(Workspace) damaging the workspace before the run
    code: int = 2


class Workspace:
    """A folder with what users feed the commands: two labelled scenes (``scenes/a.tif``,
    ``scenes/b.tif`` with ``SCLS_``), a tiny phase-one model (``models/m.keras`` with its
    sidecar), a river class CSV, a tile set (``tiles/``) and an output folder of an earlier
    classify run (``results/``)."""

    def __init__(self, root, template):
        self.root = Path(root)
        shutil.copytree(template, self.root, dirs_exist_ok=True)

    def __getitem__(self, name):
        return str(self.path(name))

    def path(self, name):
        return self.root / PATHS.get(name, name)

    def snapshot(self):
        return {p: p.read_bytes() for p in self.root.rglob("*") if p.is_file()}


PATHS = {"scenes": "scenes", "image": "scenes/a.tif", "labels": "scenes/SCLS_a.tif",
         "other": "scenes/b.tif", "model": "models/m.keras", "sidecar": "models/m.json",
         "models": "models", "classes": "river.csv", "tiles": "tiles", "results": "results",
         "classified": "results/a_classified.tif", "out": "new_out"}


def build_template(folder):
    """Write the workspace template once (a session fixture copies it for every case)."""
    from csc.backend import quiet_tensorflow

    quiet_tensorflow()
    folder = Path(folder)
    for stem, seed in (("a", 0), ("b", 1)):
        write_scene(folder / "scenes", stem, wavy_labels(SHAPE, seed=seed))
    (folder / "models").mkdir(parents=True)
    save_model(folder / "models" / "m.keras", nearest_mean_model())
    (folder / "river.csv").write_text("id,name,colour,role\n1,water,#1f78b4,\n"
                                      "2,sediment,#d9b365,\n3,vegetation,#33a02c,\n")
    runner = CliRunner()
    for args in (["tiles", str(folder / "scenes"), str(folder / "tiles"), "--tile-size", "32",
                  "--stride", "16", "--classes", str(folder / "river.csv"), "--no-augment"],
                 ["classify", str(folder / "scenes" / "a.tif"), "--model",
                  str(folder / "models" / "m.keras"), "--out", str(folder / "results"),
                  "--patch-size", "1", "--epochs", "1", "--samples-per-class", "200",
                  "--batch-size", "64", "--no-front"]):
        result = runner.invoke(cli, args, catch_exceptions=False)
        if result.exit_code != 0:
            raise RuntimeError(f"workspace step failed: {args}\n{result.output}")
    return folder


@pytest.fixture(scope="session")
def bad_inputs_template(tmp_path_factory):
    """The workspace template, written once per test session."""
    return build_template(tmp_path_factory.mktemp("bad_inputs_template"))


@pytest.fixture(name="workspace")
def workspace_fixture(tmp_path, bad_inputs_template):
    """A fresh copy of the workspace for one case (import this fixture into a table module)."""
    return Workspace(tmp_path / "ws", bad_inputs_template)


def check(workspace, case):
    """Run ``case`` in ``workspace`` and assert what a user would notice."""
    if case.setup is not None:
        case.setup(workspace)
    before = workspace.snapshot()
    names = {k: workspace[k] for k in PATHS} | {"root": str(workspace.root)}
    out_existed = Path(names["out"]).exists()
    args = [a.format(**names) if isinstance(a, str) else str(a) for a in case.args]
    result = CliRunner().invoke(cli, args, prog_name="csc")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    shown = f"csc {' '.join(args)}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.exit_code == case.code, shown
    assert len(lines) == 1, shown
    assert re.search(case.match, lines[0]), f"{case.match!r} not in {lines[0]!r}\n{shown}"
    assert "Traceback" not in result.stderr, shown
    after = workspace.snapshot()
    for path, data in before.items():
        assert after.get(path) == data, f"{path} changed or vanished\n{shown}"
    hidden = [p for p in set(after) - set(before) if any(part.startswith(".")
                                                         for part in p.parts)]
    assert not hidden, f"temporary files left: {hidden}\n{shown}"
    if not out_existed:   # a refused run leaves no (empty) output folder behind
        assert not Path(names["out"]).exists(), f"{names['out']} left behind\n{shown}"
    return result


def damage(name, data=b"not a raster"):
    """A setup that overwrites workspace file ``name`` with ``data``."""
    def setup(workspace):
        workspace.path(name).write_bytes(data)
    return setup


def replace_raster(name, array, **profile):
    """A setup that rewrites workspace raster ``name`` with ``array`` (rows, cols[, bands])."""
    def setup(workspace):
        from csc.rasters import write_image

        write_image(workspace.path(name), np.asarray(array), **profile)
    return setup
