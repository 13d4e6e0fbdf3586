"""Pooling the pixel samples of many images and runs."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from CSC_Application.summary import COLUMNS, headline, pool_run, summarize, write_summary
from csc.classes import GLACIER
from csc.errors import LabelMismatchError, MissingLabelError


def _sample(folder, stem, exp, truth, cnn, csc, labelled=None):
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / f"{stem}_{exp}_pixels.npz", truth=np.asarray(truth, np.uint8),
                        cnn=np.asarray(cnn, np.uint8), csc=np.asarray(csc, np.uint8),
                        stem=np.array(stem), exp=np.array(exp),
                        labelled_pixels=np.array(labelled or len(truth)),
                        schema=np.array(json.dumps(GLACIER.to_dict())))


def _random(seed, n, error):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 8, n)
    wrong = rng.random(n) < error
    return truth, np.where(wrong, rng.integers(1, 8, n), truth)


def test_pool_two_runs(tmp_path):
    a, b = tmp_path / "run_a", tmp_path / "run_b"
    t1, p1 = _random(0, 500, 0.4)
    t2, p2 = _random(1, 300, 0.1)
    _sample(a, "img1", "k1", t1, p1, t1)
    _sample(a, "img2", "k1", t2, p2, p2)
    _sample(b, "img1", "k5", t1, t1, p1)
    frame = summarize([a, b])
    assert list(frame.columns) == COLUMNS
    assert set(frame["run"]) == {"run_a/k1", "run_b/k5"}
    run_a = frame[(frame["run"] == "run_a/k1")]
    assert (run_a["images"] == 2).all() and (run_a["pixels"] == 800).all()
    # pooled over both images of run a
    t, p = np.concatenate([t1, t2]), np.concatenate([p1, p2])
    by = run_a[run_a["method"] == "cnn"].set_index("class")["f1"]
    assert by["weighted avg"] == pytest.approx(f1_score(t, p, average="weighted"))
    assert by["macro avg"] == pytest.approx(f1_score(t, p, average="macro"))
    csc = run_a[run_a["method"] == "csc"].set_index("class")
    assert csc.loc["glacier ice", "role"] == "glacier"
    assert csc.loc["glacier ice", "f1"] == pytest.approx(
        f1_score(t, np.concatenate([t1, p2]), labels=[4], average=None)[0])
    table = headline(frame)
    assert list(table["run"]) == ["run_a/k1", "run_b/k5"]
    assert table.loc[1, "cnn_weighted_f1"] == 1.0 and table.loc[1, "csc_weighted_f1"] < 1.0


def test_images_weighted_by_labelled_pixels(tmp_path):
    t1, p1 = _random(0, 400, 0.5)
    t2, p2 = _random(1, 400, 0.0)
    _sample(tmp_path, "big", "k3", t1, p1, p1, labelled=4000)    # stands for 10x more pixels
    _sample(tmp_path, "small", "k3", t2, p2, p2, labelled=400)
    pooled = pool_run(tmp_path)
    assert pooled.pixels == 4400 and pooled.exp == "k3" and pooled.stems == ["big", "small"]
    weights = np.concatenate([np.full(400, 10.0), np.ones(400)])
    expected = f1_score(np.concatenate([t1, t2]), np.concatenate([p1, p2]), average="weighted",
                        sample_weight=weights)
    row = summarize([tmp_path]).query("method == 'csc' and `class` == 'weighted avg'")
    assert row["f1"].iloc[0] == pytest.approx(expected)


def test_csv_and_chart_written(tmp_path):
    t, p = _random(0, 100, 0.2)
    _sample(tmp_path / "r", "img", "k1", t, p, t)
    out, png = write_summary(summarize([tmp_path / "r"]), tmp_path / "pooled.csv")
    assert png == tmp_path / "pooled.png" and png.read_bytes()[:4] == b"\x89PNG"
    assert list(pd.read_csv(out).columns) == COLUMNS


def test_pool_errors(tmp_path):
    with pytest.raises(MissingLabelError, match="holds no \\*_pixels.npz pixel samples"):
        summarize([tmp_path])
    t, p = _random(0, 10, 0.2)
    _sample(tmp_path, "img", "k1", t, p, p)
    _sample(tmp_path, "img", "k3", t, p, p)
    with pytest.raises(LabelMismatchError, match=r"several runs \(k1, k3\)"):
        pool_run(tmp_path)
    with pytest.raises(MissingLabelError, match="no run 'k9'; found k1, k3"):
        pool_run(tmp_path, "k9")
