"""`csc tiles`, `csc thin` and `csc train` killed (SIGKILL) or stopped (SIGINT) at chosen
moments in a subprocess: the earlier set stays complete and loadable, or — once the commit
journal exists — the next reader rolls it forward to the new one; never a mix, and no hidden
files survive the next run."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from raster_factory import labelled_scenes
from csc.cli import cli
from csc.classes import ClassInfo, ClassSchema
from Phase_1_CNN.dataset import TileSet
from csc.outputs import settle

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
THREE = ClassSchema(classes=(ClassInfo(1, "water", "#1f78b4"),
                             ClassInfo(2, "sediment", "#d9b365"),
                             ClassInfo(3, "vegetation", "#33a02c")), name="river")
TILES = ["--tile-size", "32", "--stride", "16", "--block-size", "64"]

#: Runs `csc ARGS…` in this process after arming a trap: MODE "journal" SIGKILLs itself just
#: before the commit journal is written, "move:N" after N files were moved into place,
#: "int:NAME" sends itself SIGINT when Phase_1_CNN.training.NAME is called.
WRAPPER = textwrap.dedent("""
    import os, signal, sys, types
    import csc.outputs as outputs
    import Phase_1_CNN.training as training
    from csc.cli import main

    mode = sys.argv[1]
    if mode == "journal":
        real = outputs.write_text
        def write_text(path, text):
            os.kill(os.getpid(), signal.SIGKILL)
        outputs.write_text = write_text
    elif mode.startswith("move:"):
        after = int(mode.split(":")[1])
        moved = []
        proxy = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os)
                                         if not k.startswith("__")})
        def replace(src, dst):
            os.replace(src, dst)
            moved.append(dst)
            if len(moved) == after:
                os.kill(os.getpid(), signal.SIGKILL)
        proxy.replace = replace
        outputs.os = proxy
    elif mode.startswith("int:"):
        name = mode.split(":")[1]
        real = getattr(training, name)
        def interrupted(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)
            return real(*args, **kwargs)
        setattr(training, name, interrupted)
    sys.argv = ["csc"] + sys.argv[2:]
    main()
""")


def _scenes(folder, *, shape=(128, 192)):
    return labelled_scenes(folder, shape=shape, bands=3)


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in Path(folder).rglob("*")
            if p.is_file()}


def _hidden(folder):
    return sorted(str(p) for p in Path(folder).rglob(".*"))


def _check_set(folder, key="tiles"):
    """The folder holds exactly the files its manifest lists, with their sizes and hashes;
    returns the manifest."""
    manifest = json.loads((Path(folder) / f"{key}_run.json").read_text())
    for entry in manifest["outputs"]:
        data = (Path(folder) / entry["name"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"],
                                                                 entry["sha256"])
    return manifest


def _check_tileset(folder):
    _check_set(folder)
    tileset = TileSet(folder)
    counts = tileset.counts()
    assert counts["train"].tolist() == list(tileset.meta["counts"]["train"].values())
    table = tileset.index()
    assert (table["split"] == "train").sum() == tileset.n("train")
    assert tileset.tiles("train").shape[0] == tileset.n("train")
    return tileset


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("kills")
    scenes, classes = _scenes(root / "scenes")
    result = CliRunner().invoke(cli, ["tiles", str(scenes), str(root / "tiles"), *TILES,
                                      "--classes", str(classes)])
    assert result.exit_code == 0, result.output
    return {"scenes": scenes, "classes": classes, "tiles": root / "tiles"}


@pytest.fixture
def tiles(made, tmp_path):
    out = tmp_path / "tiles"
    shutil.copytree(made["tiles"], out)
    return out


def _wrapped(tmp_path, mode, *args):
    script = tmp_path / "wrapper.py"
    script.write_text(WRAPPER)
    return subprocess.run([sys.executable, str(script), mode, *map(str, args)], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=120)


def _csc(*args):
    return [sys.executable, "-m", "csc", *map(str, args)]


def _kill_when(cmd, folder, pattern, sig, *, timeout=60):
    """Start ``cmd``; send ``sig`` once ``folder`` holds an entry matching ``pattern``."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    while time.monotonic() - start < timeout and proc.poll() is None:
        if any(Path(folder).glob(pattern)):
            proc.send_signal(sig)
            break
        time.sleep(0.002)
    out, err = proc.communicate(timeout=timeout)
    return proc, err


# --- csc tiles ----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_tiles_stopped_while_staging_leaves_the_old_set(made, tiles, sig):
    old = _snapshot(tiles)
    cmd = _csc("tiles", made["scenes"], tiles, "--tile-size", "32", "--stride", "4",
               "--classes", made["classes"])
    proc, err = _kill_when(cmd, tiles, ".csc-tiles.staging-*/.tiles_train*", sig)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130
        assert [line for line in err.splitlines() if line.strip()] == [
            "csc: interrupted; outputs already committed are complete, the rest were not "
            "written"]
        assert not _hidden(tiles)          # Ctrl-C cleans up at once
    settle(tiles, "tiles")                          # what a reader does: nothing to roll forward
    assert {k: v for k, v in _snapshot(tiles).items() if not str(k).startswith(".")} == old
    assert _check_tileset(tiles).stride == 16
    rerun = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert _check_tileset(tiles).stride == 4
    assert not _hidden(tiles)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["journal", "move:1", "move:4"])
def test_tiles_killed_in_the_commit_is_old_or_new(made, tiles, tmp_path, mode):
    old = _snapshot(tiles)
    proc = _wrapped(tmp_path, mode, "tiles", made["scenes"], tiles, "--tile-size", "32",
                    "--stride", "8", "--no-augment", "--classes", made["classes"])
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    settle(tiles, "tiles")
    tileset = _check_tileset(tiles)
    if mode == "journal":
        assert {k: v for k, v in _snapshot(tiles).items() if not str(k).startswith(".")} == old
    else:
        assert tileset.stride == 8 and tileset.meta["augment"]["orientations"] == 1
        assert not _hidden(tiles)


def test_tiles_replace_an_older_set_whole(made, tiles):
    (tiles / "tiles_run.json").unlink()     # a set from before manifests: names still known
    (tiles / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["tiles", str(made["scenes"]), str(tiles),
                                      "--tile-size", "32", "--stride", "32", "--classes",
                                      str(made["classes"])])
    assert result.exit_code == 0, result.output
    assert _check_tileset(tiles).stride == 32
    assert (tiles / "notes.txt").read_text() == "mine"
    assert not _hidden(tiles)


# --- csc thin -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["journal", "move:2", "move:6"])
def test_thin_killed_is_old_or_new(tiles, tmp_path, mode):
    old = _snapshot(tiles)
    proc = _wrapped(tmp_path, mode, "thin", tiles, "--max-per-class", "10")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    settle(tiles, "tiles")
    tileset = _check_tileset(tiles)
    if mode == "journal":
        assert {k: v for k, v in _snapshot(tiles).items() if not str(k).startswith(".")} == old
        assert tileset.meta["thinning"] is None
    else:
        assert tileset.meta["thinning"]["max_per_class"] == 10
        assert tileset.counts()["train"].max() <= 10
        assert not _hidden(tiles)


def test_thin_commits_one_set(tiles):
    val = (tiles / "tiles_val.npy").read_bytes()
    result = CliRunner().invoke(cli, ["thin", str(tiles), "--max-per-class", "5"])
    assert result.exit_code == 0, result.output
    tileset = _check_tileset(tiles)
    assert tileset.counts()["train"].max() <= 5
    assert (tiles / "tiles_val.npy").read_bytes() == val
    assert not _hidden(tiles)


# --- csc train ----------------------------------------------------------------------------------
TRAIN = ["--width", "0.0625", "--epochs", "2", "--batch-size", "16", "--lr", "1e-3"]


@pytest.fixture(scope="module")
def trained(made, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    result = CliRunner().invoke(cli, ["train", str(made["tiles"]), str(models / "m.keras"),
                                      *TRAIN])
    assert result.exit_code == 0, result.output
    return models


@pytest.fixture
def models(trained, tmp_path):
    out = tmp_path / "models"
    shutil.copytree(trained, out)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["journal", "move:3", "int:plot_history"])
def test_train_killed_keeps_model_and_sidecar_together(made, models, tmp_path, mode):
    old = _snapshot(models)
    proc = _wrapped(tmp_path, mode, "train", made["tiles"], models / "m.keras", *TRAIN,
                    "--seed", "7")
    if mode.startswith("int:"):
        assert proc.returncode == 130, proc.stderr
        assert len([line for line in proc.stderr.splitlines()
                    if line.strip() and "csc:" in line]) == 1
        assert not _hidden(models)
    else:
        assert proc.returncode == -signal.SIGKILL, proc.stderr
    settle(models, "m")
    manifest = _check_set(models, "m")
    card = json.loads((models / "m.json").read_text())
    if mode in ("journal", "int:plot_history"):
        assert {k: v for k, v in _snapshot(models).items() if not str(k).startswith(".")} == old
        assert card["training"]["runs"][-1]["seed"] == 0
    else:
        assert card["training"]["runs"][-1]["seed"] == 7      # the new pair, rolled forward
        assert manifest["training"]["runs"][-1]["seed"] == 7
        assert not _hidden(models)


def test_train_refuses_a_model_inside_the_tile_set(tiles):
    result = CliRunner().invoke(cli, ["train", str(tiles), str(tiles / "m.keras"), *TRAIN])
    assert result.exit_code == 2
    assert "inside the tile set" in result.output


@pytest.mark.slow
def test_finetune_over_its_own_model_commits_the_set(made, models):
    result = CliRunner().invoke(cli, ["finetune", str(models / "m.keras"), str(made["tiles"]),
                                      str(models / "m.keras"), "--epochs", "1",
                                      "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    manifest = _check_set(models, "m")
    assert [r["kind"] for r in manifest["training"]["runs"]] == ["train", "finetune"]
    assert not _hidden(models)
