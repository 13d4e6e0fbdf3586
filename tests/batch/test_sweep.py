"""Sweeps end to end on a tiny study: resume, failures, Dask workers, the summary."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from sklearn.metrics import f1_score
from sweep_data import FAST, MODEL, write_jobs

from batch.report import F1_PLOT, RUNTIME_PLOT, SUMMARY_NAME
from batch.runner import run_sweep

REPO = Path(__file__).resolve().parents[2]


def job_rows(scenes, ks, *, out="out/run", exp="t"):
    return [(MODEL, scenes, out, exp, 4, k, 32, 1, 1, 0) for k in ks]


def read_done(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def class_maps(folder):
    """{file name: array} of the class rasters of a job's output folder."""
    maps = {}
    for tif in sorted(folder.glob("*_classified.tif")):
        with rasterio.open(tif) as src:
            maps[tif.name] = src.read(1)
    return maps


def pooled_f1(folder, scenes):
    """Weighted F1 of the class rasters in ``folder`` over all labelled pixels of ``scenes``."""
    truth, pred = [], []
    for name, array in class_maps(folder).items():
        with rasterio.open(scenes / f"SCLS_{name.replace('_classified', '')}") as src:
            truth.append(src.read(1).ravel())
        pred.append(array.ravel())
    truth, pred = np.concatenate(truth), np.concatenate(pred)
    return f1_score(truth, pred, labels=np.union1d(truth, pred), average="weighted")


def test_sequential_sweep_marks_jobs_and_pools_scores(tiny_study, tmp_path):
    models, scenes, _ = tiny_study
    jobs = write_jobs(tmp_path / "jobs.csv", job_rows(scenes, [1, 3]))
    stale = tmp_path / "out" / f".run_patch1.partial-{2**22 + 7}"  # left by a killed sweep
    stale.mkdir(parents=True)
    (stale / "scene1_classified.tif").write_bytes(b"half written")
    summary = run_sweep(jobs, models_dir=models, defaults=FAST, progress=False).frame

    table = read_done(jobs)
    assert list(table["Done"]) == ["1", "1"]
    assert "Error" not in table.columns
    for k in (1, 3):
        folder = tmp_path / "out" / f"run_patch{k}"
        maps = class_maps(folder)
        assert sorted(maps) == ["scene1_classified.tif", "scene2_classified.tif"]
        assert all(m.shape == (64, 96) for m in maps.values())
        assert sorted(p.name for p in folder.glob("*_pixels.npz")) == [
            f"scene1_t_k{k}_pixels.npz", f"scene2_t_k{k}_pixels.npz"]
    written = pd.read_csv(tmp_path / SUMMARY_NAME)
    assert list(written["PatchSize"]) == [1, 3] == list(summary["PatchSize"])
    assert list(summary["status"]) == ["done", "done"]
    assert list(summary["images"]) == [2, 2]
    # the tiny model labels every tile right: phase one is exact on these block scenes
    assert summary["cnn_weighted_f1"].tolist() == [1.0, 1.0]
    assert summary["cnn_glacier_f1"].tolist() == [1.0, 1.0]
    # CSC scores pool every labelled pixel of both images (the samples hold them all)
    for k, f1 in zip((1, 3), summary["csc_weighted_f1"]):
        assert f1 == pytest.approx(pooled_f1(tmp_path / "out" / f"run_patch{k}", scenes))
    assert set(summary["SamplesPerClass"]) == {200}
    for plot in (F1_PLOT, RUNTIME_PLOT):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.rglob(".*"))  # no lock file or temporary folder left

    # a second run finds nothing to do and leaves the results untouched
    stamp = (tmp_path / "out" / "run_patch1" / "job.json").stat().st_mtime_ns
    again = run_sweep(jobs, models_dir=models, defaults=FAST, progress=False).frame
    assert (tmp_path / "out" / "run_patch1" / "job.json").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(again.drop(columns="seconds"),
                                  summary.drop(columns="seconds"))


def test_failing_job_is_marked_and_the_others_finish(tiny_study, tmp_path):
    models, scenes, rgb = tiny_study
    bad = shutil.copytree(rgb, tmp_path / "rgb")
    jobs = write_jobs(tmp_path / "jobs.csv", [
        (MODEL, scenes, "out/good", "g", 4, 1, 32, 1, 1, 0),
        (MODEL, bad, "out/new/bad", "b", 4, 1, 32, 1, 1, 0),   # three-band images, 4-band model
        (MODEL, scenes, "out/after", "a", 4, 1, 32, 1, 1, 0)])
    summary = run_sweep(jobs, models_dir=models, defaults=FAST, progress=False).frame

    table = read_done(jobs)
    assert list(table["Done"]) == ["1", "-1", "1"]
    assert table["Error"][0] == table["Error"][2] == ""
    assert "BandError" in table["Error"][1] and "has 3 band(s)" in table["Error"][1]
    assert list(summary["status"]) == ["done", "failed", "done"]
    assert "has 3 band(s)" in summary["error"][1]
    assert (tmp_path / "out" / "good_patch1" / "job.json").exists()
    assert (tmp_path / "out" / "after_patch1" / "job.json").exists()
    assert not (tmp_path / "out" / "new").exists()   # no empty folder left by the failure
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]

    # without --retry-failed the failed job stays failed; with it, it is run again
    run_sweep(jobs, models_dir=models, defaults=FAST, progress=False).frame
    assert list(read_done(jobs)["Done"]) == ["1", "-1", "1"]
    shutil.rmtree(bad)
    write_rgb_as_four_bands(bad, scenes)
    summary = run_sweep(jobs, models_dir=models, defaults=FAST, retry_failed=True,
                        progress=False).frame
    table = read_done(jobs)
    assert list(table["Done"]) == ["1", "1", "1"]
    assert list(table["Error"]) == ["", "", ""]
    assert list(summary["status"]) == ["done"] * 3
    assert (tmp_path / "out" / "new" / "bad_patch1" / "job.json").exists()


def write_rgb_as_four_bands(folder, scenes):
    """Fix the failing job's data: put four-band images in its folder."""
    folder.mkdir()
    for name in ("scene1.tif", "SCLS_scene1.tif"):
        shutil.copy(scenes / name, folder / name)


def summaries_equal(a, b):
    columns = [c for c in a.columns if c not in ("seconds", "DataSource", "OutFolder")]
    pd.testing.assert_frame_equal(a[columns], b[columns])


@pytest.mark.slow
def test_dask_workers_give_the_sequential_results(tiny_study, tmp_path):
    """A sweep run by ``csc batch`` in a fresh process (one job after another) and the same
    sweep on 2 local Dask workers give identical summaries and class maps, including a K=5
    CNN, whose gradients depend on TensorFlow's thread count."""
    models, scenes, _ = tiny_study
    rows = [(MODEL, scenes, out, "t", 4, k, 32, 1, 1, 0, seed)
            for out, k, seed in (("out/run", 1, 0), ("out/run", 5, 0), ("out/seed5", 3, 5))]
    header = ("Model", "DataSource", "OutFolder", "ExpShortHand", "Dims", "PatchSize",
              "TileSize", "WholeImage", "Patience", "Done", "Seed")
    lists = {}
    for name in ("sequential", "dask"):
        (tmp_path / name).mkdir()
        lists[name] = write_jobs(tmp_path / name / "jobs.csv", rows, header=header)
    command = [sys.executable, "-m", "csc", "-q", "batch", str(lists["sequential"]),
               "--models-dir", str(models), "--samples-per-class", str(FAST["samples_per_class"]),
               "--epochs", str(FAST["epochs"]), "--batch-size", str(FAST["batch_size"]),
               "--no-front"]
    done = subprocess.run(command, cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    seq = pd.read_csv(tmp_path / "sequential" / "sweep_summary.csv")
    run_sweep(lists["dask"], models_dir=models, defaults=FAST, workers=2, progress=False).frame
    par = pd.read_csv(tmp_path / "dask" / "sweep_summary.csv")

    assert list(par["status"]) == ["done"] * 3
    assert list(read_done(lists["dask"])["Done"]) == ["1", "1", "1"]
    summaries_equal(seq, par)
    for folder in ("run_patch1", "run_patch5", "seed5_patch3"):
        a = class_maps(tmp_path / "sequential" / "out" / folder)
        b = class_maps(tmp_path / "dask" / "out" / folder)
        assert a.keys() == b.keys() and a
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])


def wait_for(predicate, *, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_killed_sweep_resumes_without_duplicate_or_partial_outputs(tiny_study, tmp_path):
    models, scenes, _ = tiny_study
    jobs = write_jobs(tmp_path / "jobs.csv", job_rows(scenes, [1, 3, 5]))
    command = [sys.executable, "-m", "csc", "-q", "batch", str(jobs), "--models-dir",
               str(models), "--samples-per-class", "200", "--epochs", "2", "--batch-size",
               "64", "--no-front"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    out = tmp_path / "out"

    def second_job_running():
        return (read_done(jobs)["Done"].tolist()[0] == "1"
                and bool(list(out.glob(".run_patch3.partial-*"))))

    try:
        wait_for(lambda: second_job_running() or proc.poll() is not None, timeout=300,
                 what="the first job to finish and the second to start")
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    first = tmp_path / "out" / "run_patch1"
    stamp = (first / "job.json").stat().st_mtime_ns
    assert read_done(jobs)["Done"].tolist()[1:] == ["0", "0"]
    assert (tmp_path / f".{jobs.name}.lock").exists()  # left behind by the killed sweep
    assert list(out.glob(".run_patch3.partial-*"))     # the killed job's unfinished outputs
    assert not (out / "run_patch3").exists()

    summary = run_sweep(jobs, models_dir=models, defaults=FAST, progress=False).frame

    assert read_done(jobs)["Done"].tolist() == ["1", "1", "1"]
    assert list(summary["status"]) == ["done"] * 3
    assert (first / "job.json").stat().st_mtime_ns == stamp  # the first job did not run again
    assert sorted(p.name for p in out.iterdir()) == ["run_patch1", "run_patch3", "run_patch5"]
    for k in (1, 3, 5):
        folder = out / f"run_patch{k}"
        assert sorted(class_maps(folder)) == ["scene1_classified.tif", "scene2_classified.tif"]
        assert len(pd.read_csv(folder / "summary.csv")) == 2
        assert sorted(p.name for p in folder.glob("*_pixels.npz")) == [
            f"scene1_t_k{k}_pixels.npz", f"scene2_t_k{k}_pixels.npz"]
    assert not [p for p in tmp_path.rglob(".*")]  # no partial folder, temp file or lock


def test_cli_rejects_a_bad_job_list_with_exit_code_2(tiny_study, tmp_path):
    from click.testing import CliRunner

    from csc.cli import cli

    models, scenes, _ = tiny_study
    jobs = write_jobs(tmp_path / "jobs.csv", [(MODEL, scenes, "out/a", "t", 3, 2, 32, 1, 1, 0)])
    result = CliRunner().invoke(cli, ["batch", str(jobs), "--models-dir", str(models)])
    assert result.exit_code == 2
    assert "line 2, Dims '3': model vgg16_t32 reads 4 bands" in result.output
    assert "line 2, PatchSize '2': must be an odd whole number ≥ 1" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_refuses_workers_with_a_scheduler(tiny_study, tmp_path):
    from click.testing import CliRunner

    from csc.cli import cli

    models, scenes, _ = tiny_study
    jobs = write_jobs(tmp_path / "jobs.csv", job_rows(scenes, [1]))
    result = CliRunner().invoke(cli, ["batch", str(jobs), "--models-dir", str(models),
                                      "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "give --workers or --scheduler, not both" in result.output
