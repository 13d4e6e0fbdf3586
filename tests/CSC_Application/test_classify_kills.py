"""`csc classify` killed (SIGKILL) or stopped (SIGINT) in a subprocess when a chosen output
appears, in a folder holding the complete outputs of an earlier run: the earlier set stays
byte-identical — or, when the kill landed after the commit journal, the next run completes the
new set — and a re-run always leaves one complete set (its manifest lists every file with its
SHA-256) and no hidden file."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from affine import Affine

from csc.classes import ClassInfo, ClassSchema
from phase2_data import nearest_mean_model, save_model, wavy_labels, write_scene

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
STEM = "fjord"
ROLES = ClassSchema(classes=(ClassInfo(1, "open water", "#08306b", "ocean"),
                             ClassInfo(2, "glacier ice", "#41b6c4", "glacier"),
                             ClassInfo(3, "rock", "#8c510a", "rock")),
                    front=ClassInfo(8, "calving front", "#e31a1c", "front"), name="fjord")
FJORD_TRANSFORM = Affine(40, 0, 500000, 0, -40, 7400000)   # 40 m pixels: the ocean is > 1 km²
#: The tiny run (no front: its warnings would be stderr lines of their own).
FAST = ["--patch-size", "1", "--epochs", "2", "--samples-per-class", "300",
        "--batch-size", "32", "--no-front"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A scene, the tiny phase-one model and the output folder of one complete run (seed 0)."""
    from csc.backend import quiet_tensorflow

    quiet_tensorflow()
    tmp = tmp_path_factory.mktemp("kills")
    (tmp / "roles").mkdir()
    model = save_model(tmp / "roles" / "fjord.keras", nearest_mean_model(ROLES), ROLES)
    image = write_scene(tmp / "in", STEM, wavy_labels((96, 96)), schema=ROLES,
                        transform=FJORD_TRANSFORM)
    out = tmp / "out"
    done = _csc(image, model, out, "--seed", "0")
    assert done.returncode == 0, done.stderr
    _complete_set(out)
    return image, model, out


def _args(image, model, out, *extra):
    return ["classify", str(image), "--model", str(model), "--out", str(out), *FAST, *extra]


def _csc(image, model, out, *extra):
    return subprocess.run([sys.executable, "-m", "csc", *_args(image, model, out, *extra)],
                          env=ENV, capture_output=True, text=True, timeout=120)


def _files(out):
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def _complete_set(out):
    """The manifest of ``out``, after asserting it lists every file with its SHA-256 and no
    hidden file (staging folder, journal) remains."""
    info = json.loads((out / f"{STEM}_run.json").read_text())
    listed = {entry["name"]: entry for entry in info["outputs"]}
    assert set(listed) | {f"{STEM}_run.json"} == {p.name for p in out.iterdir()}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest(), name
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    return info


def _appeared(out, trigger):
    """The staging folder of a run (``trigger`` None) or file ``trigger`` inside it, if it is
    there yet."""
    for staging in out.glob(f".csc-{STEM}.staging-*"):
        if trigger is None or (staging / trigger).exists():
            return staging
    return None


def _signal_when(out, trigger, signum, args):
    """Start ``csc ARGS`` and send ``signum`` as soon as ``trigger`` appears (polling every
    millisecond); return (returncode, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "csc", *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while _appeared(out, trigger) is None:
            if proc.poll() is not None:
                pytest.fail(f"run ended ({proc.returncode}) before {trigger or 'staging'} "
                            f"appeared: {proc.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{trigger or 'staging'} did not appear within 60 s")
            time.sleep(0.001)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


def _earlier_or_rolled_forward(out, before, image, model):
    """After a stopped run: the earlier set byte-identical (``"earlier"``), or — a commit
    journal left — the folder a mix that the next run completes as the new set (seed 1;
    ``"rolled forward"``)."""
    journal = list(out.glob(f".csc-{STEM}.commit.json"))
    visible = {name: data for name, data in _files(out).items() if not name.startswith(".")}
    if not journal:
        assert visible == before, "the earlier set changed although no commit journal was left"
        return "earlier"
    again = _csc(image, model, out, "--seed", "1")
    assert again.returncode == 0, again.stderr
    assert _complete_set(out)["options"]["seed"] == 1
    return "rolled forward"


CASES = [  # (signal, the output whose appearance triggers it: None is the staging folder)
    (signal.SIGKILL, f"{STEM}_classified.tif"),
    (signal.SIGKILL, f"CSC_k1_{STEM}.png"),
    (signal.SIGINT, None),
]  # (SIGKILL at the commit itself: test_run.py::test_sigkill_mid_commit_then_rerun…)


@pytest.mark.slow
@pytest.mark.parametrize("signum, trigger", CASES,
                         ids=[f"{s.name}-at-{t or 'staging'}" for s, t in CASES])
def test_stopped_rerun_keeps_the_earlier_set(tmp_path, earlier, signum, trigger):
    image, model, first = earlier
    out = tmp_path / "out"
    shutil.copytree(first, out)
    before = _files(out)
    assert json.loads(before[f"{STEM}_run.json"])["options"]["seed"] == 0
    code, stderr = _signal_when(out, trigger, signum, _args(image, model, out, "--seed", "1"))
    if signum == signal.SIGKILL:
        assert code == -signal.SIGKILL, stderr
    else:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert code == 130, stderr
        assert len(lines) == 1 and lines[0].startswith("csc: interrupted"), stderr
        assert "Traceback" not in stderr
        # Ctrl-C cleans up after itself: no staging folder is left behind
        assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    if _earlier_or_rolled_forward(out, before, image, model) == "earlier":
        again = _csc(image, model, out, "--seed", "2")      # the re-run completes a new set
        assert again.returncode == 0, again.stderr
        assert _complete_set(out)["options"]["seed"] == 2
