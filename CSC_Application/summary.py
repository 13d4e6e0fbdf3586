"""Pooled accuracy of many images and runs (``csc summarize``).

``csc classify`` stores, for every labelled image, a seeded sample of up to 200 000 labelled
pixels (``<stem>_<exp>_pixels.npz``: truth, phase-one and CSC classes). A *run* is one result
folder and one experiment name (``k5``, ``trial_k5`` …); pooling concatenates the samples of
its images, each pixel weighted by (labelled pixels of its image) / (pixels sampled from it),
so the pooled scores are those of all labelled pixels of the run.
"""
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from csc.classes import ClassSchema
from csc.errors import LabelMismatchError, MissingLabelError
from csc.figures import plt, save
from csc.files import write_csv
from csc.pooling import POOL_PIXELS, SUFFIX, write_pixel_sample  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

#: Columns of the tidy summary frame.
COLUMNS = ["run", "result_dir", "exp", "images", "pixels", "method", "class", "role",
           "precision", "recall", "f1", "support"]
METHODS = {"cnn": "phase one (CNN)", "csc": "CSC"}


def runs_in(result_dir):
    """{exp: [npz paths]} of the pixel samples found in ``result_dir``."""
    runs = {}
    for path in sorted(Path(result_dir).glob(f"*{SUFFIX}")):
        with np.load(path) as z:
            exp = str(z["exp"])
        runs.setdefault(exp, []).append(path)
    return runs


class PooledRun:
    """The pooled pixel samples of one run: ``truth``, ``cnn`` (None without a phase one),
    ``csc`` (class ids),
    ``weight`` (pixels each sampled pixel stands for), ``stems`` and the class ``schema``."""

    def __init__(self, result_dir, exp, stems, truth, cnn, csc, weight, schema):
        self.result_dir, self.exp, self.stems = Path(result_dir), exp, stems
        self.truth, self.cnn, self.csc, self.weight = truth, cnn, csc, weight
        self.schema = schema

    @property
    def name(self):
        return f"{self.result_dir.name}/{self.exp}"

    @property
    def pixels(self):
        return int(round(float(self.weight.sum())))


def pool_run(result_dir, exp=None, *, runs=None):
    """Pool the pixel samples of run ``exp`` in ``result_dir`` (``exp`` may be omitted when
    the folder holds one run only); ``runs`` is the folder's :func:`runs_in`, when known."""
    result_dir = Path(result_dir)
    runs = runs_in(result_dir) if runs is None else runs
    if not runs:
        raise MissingLabelError(f"{result_dir} holds no *{SUFFIX} pixel samples; they are "
                                "written by `csc classify` for images with SCLS_ labels")
    if exp is None:
        if len(runs) > 1:
            raise LabelMismatchError(f"{result_dir} holds several runs ({', '.join(runs)}); "
                                     "name one with exp=")
        exp = next(iter(runs))
    if exp not in runs:
        raise MissingLabelError(f"{result_dir} holds no run {exp!r}; found {', '.join(runs)}")
    parts, stems, schema_json = [], [], None
    for path in runs[exp]:
        with np.load(path) as z:
            if schema_json is None:
                schema_json = str(z["schema"])
            elif str(z["schema"]) != schema_json:
                raise LabelMismatchError(f"{path} uses another class schema than the other "
                                         f"images of run {exp!r}; pool runs of one schema")
            n = len(z["truth"])
            labelled = int(z["labelled_pixels"]) if "labelled_pixels" in z else n
            parts.append((z["truth"], z["cnn"] if "cnn" in z else None, z["csc"],
                          np.full(n, labelled / max(n, 1), dtype=np.float64)))
            stems.append(str(z["stem"]))
    truth, cnns, csc, weight = zip(*parts)
    truth, csc, weight = (np.concatenate(a) for a in (truth, csc, weight))
    cnn = None if any(c is None for c in cnns) else np.concatenate(cnns)
    return PooledRun(result_dir, exp, stems, truth, cnn, csc, weight,
                     ClassSchema.from_dict(json.loads(schema_json)))


def _rows(pooled, method, pred):
    schema = pooled.schema
    t, w = pooled.truth, pooled.weight
    present = np.union1d(np.unique(t), np.unique(pred))
    labels = [int(c) for c in schema.ids if c in present]
    base = {"run": pooled.name, "result_dir": str(pooled.result_dir), "exp": pooled.exp,
            "images": len(pooled.stems), "pixels": pooled.pixels, "method": method}
    if not len(t) or not labels:
        return []
    prec, rec, f1, _ = precision_recall_fscore_support(t, pred, labels=labels, sample_weight=w,
                                                       zero_division=0)
    support = np.array([w[t == c].sum() for c in labels])
    roles = {c.id: c.role for c in schema.classes}
    rows = [dict(base, **{"class": schema.name_of(c), "role": roles.get(c, ""),
                          "precision": prec[i], "recall": rec[i], "f1": f1[i],
                          "support": support[i]}) for i, c in enumerate(labels)]
    total = float(w.sum())
    acc = float(w[t == pred].sum() / total)
    share = support / max(support.sum(), 1e-12)
    rows += [dict(base, **{"class": "accuracy", "role": "", "precision": acc, "recall": acc,
                           "f1": acc, "support": total}),
             dict(base, **{"class": "macro avg", "role": "", "precision": prec.mean(),
                           "recall": rec.mean(), "f1": f1.mean(), "support": total}),
             dict(base, **{"class": "weighted avg", "role": "", "precision": prec @ share,
                           "recall": rec @ share, "f1": f1 @ share, "support": total})]
    return rows


def run_scores(pooled):
    """Tidy per-class and overall scores (phase one and CSC) of one pooled run."""
    rows = _rows(pooled, "csc", pooled.csc)
    if pooled.cnn is not None:
        rows = _rows(pooled, "cnn", pooled.cnn) + rows
    return pd.DataFrame(rows, columns=COLUMNS)


def summarize(result_dirs):
    """Pooled scores of every run in every result folder, as one tidy frame (``COLUMNS``):
    one row per run × method (``cnn`` phase one, ``csc``) × class, plus ``accuracy``,
    ``macro avg`` and ``weighted avg``; ``role`` marks the glacier class."""
    frames = []
    for result_dir in result_dirs:
        runs = runs_in(result_dir)
        if not runs:
            raise MissingLabelError(f"{result_dir} holds no *{SUFFIX} pixel samples; they are "
                                    "written by `csc classify` for images with SCLS_ labels")
        for exp in runs:
            frames.append(run_scores(pool_run(result_dir, exp, runs=runs)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def headline(frame):
    """One row per run: weighted/macro F1 of phase one and CSC, and the glacier-class F1."""
    out = []
    for run, group in frame.groupby("run", sort=False):
        row = {"run": run, "images": int(group["images"].iloc[0])}
        for method in METHODS:
            g = group[group["method"] == method].set_index("class")
            row[f"{method}_weighted_f1"] = float(g["f1"].get("weighted avg", np.nan))
            row[f"{method}_macro_f1"] = float(g["f1"].get("macro avg", np.nan))
            glacier = g[g["role"] == "glacier"]["f1"]
            row[f"{method}_glacier_f1"] = float(glacier.iloc[0]) if len(glacier) else np.nan
        out.append(row)
    return pd.DataFrame(out)


def plot_summary(frame, path):
    """Grouped bars of weighted, macro and glacier F1 per run, phase one against CSC."""
    table = headline(frame)
    metrics = [("weighted_f1", "weighted F1"), ("macro_f1", "macro F1")]
    if table[["cnn_glacier_f1", "csc_glacier_f1"]].notna().any().any():
        metrics.append(("glacier_f1", "glacier F1"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.0 + 1.6 * len(table) * len(metrics),
                                                      4.2), squeeze=False)
    x = np.arange(len(table))
    for ax, (key, label) in zip(axes[0], metrics):
        for i, (method, name) in enumerate(METHODS.items()):
            values = table[f"{method}_{key}"].to_numpy(dtype=float)
            bars = ax.bar(x + (i - 0.5) * 0.38, np.nan_to_num(values), 0.38, label=name)
            ax.bar_label(bars, labels=[f"{v:.2f}" if np.isfinite(v) else "" for v in values],
                         fontsize=7)
        ax.set_xticks(x, table["run"], rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.08)
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("F1 (pooled pixels)")
    axes[0][0].legend(fontsize=8, loc="lower left")
    return save(fig, path)


def write_summary(frame, out):
    """Write the tidy CSV at ``out`` and its bar chart beside it (same name, ``.png``)."""
    out = Path(out)
    write_csv(out, frame.round(6))
    png = plot_summary(frame, out.with_suffix(".png"))
    return out, Path(png)
