"""The commit stage: an image's outputs appear together with their manifest, or not at all."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from csc.outputs import OutputSet, recover

ROOT = Path(__file__).resolve().parents[2]


def _commit(folder, stem, files, **record):
    with OutputSet(folder, stem) as outputs:
        for name, text in files.items():
            outputs.path(name).write_text(text)
        outputs.commit(record)


def _listing(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def _check_manifest(folder, stem):
    """Every file beside the manifest is listed in it with its size and hash, and no other."""
    manifest = json.loads((Path(folder) / f"{stem}_run.json").read_text())
    listed = {entry["name"]: entry for entry in manifest["outputs"]}
    assert set(listed) | {f"{stem}_run.json"} == set(_listing(folder))
    for name, entry in listed.items():
        data = (Path(folder) / name).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    return manifest


def test_commit_writes_the_set_with_its_manifest(tmp_path):
    _commit(tmp_path, "s", {"s_classified.tif": "map", "CSC_s_k5.csv": "report"}, seed=1)
    assert _listing(tmp_path) == ["CSC_s_k5.csv", "s_classified.tif", "s_run.json"]
    assert _check_manifest(tmp_path, "s")["seed"] == 1


def test_a_rerun_removes_what_it_does_not_produce_and_keeps_other_images(tmp_path):
    _commit(tmp_path, "s", {"s_classified.tif": "map", "s_front.geojson": "front"})
    _commit(tmp_path, "t", {"t_classified.tif": "other image"})
    (tmp_path / "notes.txt").write_text("the user's own file")
    _commit(tmp_path, "s", {"s_classified.tif": "map without front"})
    assert _listing(tmp_path) == ["notes.txt", "s_classified.tif", "s_run.json",
                                  "t_classified.tif", "t_run.json"]
    assert (tmp_path / "s_classified.tif").read_text() == "map without front"
    assert (tmp_path / "notes.txt").read_text() == "the user's own file"


def test_a_failed_run_leaves_the_earlier_set_untouched(tmp_path):
    _commit(tmp_path, "s", {"s_classified.tif": "old"})
    before = {n: (tmp_path / n).read_bytes() for n in _listing(tmp_path)}
    with pytest.raises(RuntimeError, match="phase two failed"):
        with OutputSet(tmp_path, "s") as outputs:
            outputs.path("s_classified.tif").write_text("new, half done")
            raise RuntimeError("phase two failed")
    assert {n: (tmp_path / n).read_bytes() for n in _listing(tmp_path)} == before


def test_output_names_are_plain_file_names(tmp_path):
    with OutputSet(tmp_path, "s") as outputs:
        with pytest.raises(ValueError, match="plain file names"):
            outputs.path("../escape.txt")


KILLER = textwrap.dedent("""
    import os, signal, sys, types
    import csc.outputs as outputs

    after = int(sys.argv[3])
    moved = []
    proxy = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})

    def replace(src, dst):
        os.replace(src, dst)
        moved.append(dst)
        if len(moved) == after:
            os.kill(os.getpid(), signal.SIGKILL)

    proxy.replace = replace
    outputs.os = proxy
    with outputs.OutputSet(sys.argv[1], "s") as out:
        for name in ("s_classified.tif", "CSC_s_k5.csv", "s_k5_pixels.npz"):
            out.path(name).write_text("new " + name)
        if sys.argv[2] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        out.commit({"run": "new"})
""")


@pytest.mark.parametrize("when, moved", [("before", 0), ("during", 1), ("during", 3)])
def test_sigkill_leaves_the_old_or_the_new_complete_set(tmp_path, when, moved):
    _commit(tmp_path, "s", {"s_classified.tif": "old map", "s_front.geojson": "old front"},
            run="old")
    old = {n: (tmp_path / n).read_bytes() for n in _listing(tmp_path)}
    script = tmp_path.parent / f"killer_{when}_{moved}.py"
    script.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path), when, str(moved)],
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == -signal.SIGKILL
    recover(tmp_path)   # what the next run into the folder does first
    manifest = _check_manifest(tmp_path, "s")   # a complete set, nothing left over
    if when == "before":     # killed before the commit journal: the old set, byte for byte
        assert {n: (tmp_path / n).read_bytes() for n in _listing(tmp_path)} == old
    else:                    # killed while moving: rolled forward to the new set
        assert manifest["run"] == "new"
        assert "s_front.geojson" not in _listing(tmp_path)
        assert (tmp_path / "CSC_s_k5.csv").read_text() == "new CSC_s_k5.csv"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_ctrl_c_while_moving_the_set_finishes_the_commit(tmp_path, monkeypatch):
    import csc.outputs as outputs

    _commit(tmp_path, "s", {"s_classified.tif": "old map", "s_front.geojson": "old front"})
    real, moved = os.replace, []

    def interrupted(src, dst):
        real(src, dst)
        if ".staging-" in str(src) and ".staging-" not in str(dst):   # a move into place
            moved.append(dst)
            if len(moved) == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _commit(tmp_path, "s", {"s_classified.tif": "new map", "CSC_s_k5.csv": "new"})
    monkeypatch.setattr(outputs.os, "replace", real)
    assert _check_manifest(tmp_path, "s")["outputs"]           # the new set, complete
    assert (tmp_path / "s_classified.tif").read_text() == "new map"
    assert not (tmp_path / "s_front.geojson").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_ctrl_c_inside_enter_is_cleaned_up_by_the_command_line(tmp_path, monkeypatch):
    """Ctrl-C landing right after the staging folder is made, before ``with`` has an
    ``__exit__`` to call: ``csc``'s interrupt handler closes the set, the earlier set stays."""
    import click

    from csc.cli import CscGroup

    _commit(tmp_path, "s", {"s_classified.tif": "old map"})
    before = {n: (tmp_path / n).read_bytes() for n in _listing(tmp_path)}
    real = Path.mkdir

    def interrupted(self, *args, **kwargs):
        real(self, *args, **kwargs)
        if ".staging-" in self.name:
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "mkdir", interrupted)

    @click.group(cls=CscGroup)
    def cli():
        pass

    @cli.command()
    def run():
        with OutputSet(tmp_path, "s") as outputs:
            outputs.path("s_classified.tif").write_text("new map")
            outputs.commit({})

    with pytest.raises(SystemExit) as stopped:
        cli.main(["run"], prog_name="csc")
    assert stopped.value.code == 130
    assert {n: (tmp_path / n).read_bytes() for n in _listing(tmp_path)} == before
