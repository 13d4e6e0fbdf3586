"""Pooled accuracy of many images and runs (``csc summarize``).

``csc classify`` stores, for every labelled image, a seeded sample of up to 200 000 labelled
pixels (``<stem>_<exp>_pixels.npz``: truth, phase-one and CSC classes). A *run* is one result
folder and one experiment name (``k5``, ``trial_k5`` …); pooling concatenates the samples of
its images, each pixel weighted by (labelled pixels of its image) / (pixels sampled from it),
so the pooled scores are those of all labelled pixels of the run.
"""
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from csc.classes import ClassSchema
from csc.errors import LabelMismatchError, MissingLabelError, OutputError
from csc.figures import plt, save
from csc.files import write_csv
from csc.outputs import recorded_outputs
from csc.pooling import POOL_PIXELS, SUFFIX, write_pixel_sample  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

#: Columns of the tidy summary frame.
COLUMNS = ["run", "result_dir", "exp", "images", "pixels", "method", "class", "role",
           "precision", "recall", "f1", "support"]
METHODS = {"cnn": "phase one (CNN)", "csc": "CSC"}


#: Arrays every pixel sample holds (``cnn`` and ``labelled_pixels`` are optional).
SAMPLE_ARRAYS = ("truth", "csc", "stem", "exp", "schema")


def read_sample(path):
    """The arrays of one pixel sample (a dict), or ``LabelMismatchError`` naming the file
    when it is not a whole sample written by ``csc classify``."""
    path = Path(path)
    fix = ("re-run `csc classify` for that image, or move the file out of the result folder")
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise LabelMismatchError(f"{path}: not a pixel sample of `csc classify` (not a "
                                 f"readable .npz archive); {fix}") from exc
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise LabelMismatchError(f"{path}: a single NumPy array, not a pixel sample of "
                                 f"`csc classify` (an .npz of {', '.join(SAMPLE_ARRAYS)}); {fix}")
    with z:
        missing = [name for name in SAMPLE_ARRAYS if name not in z.files]
        if missing:
            raise LabelMismatchError(f"{path}: not a pixel sample of `csc classify` (no "
                                     f"{', '.join(missing)} array); {fix}")
        try:
            sample = {name: z[name] for name in z.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise LabelMismatchError(f"{path}: pixel sample is damaged ({exc}); "
                                     f"{fix}") from exc
    n = len(sample["truth"])
    for name in ("csc", "cnn"):
        if name in sample and (sample[name].ndim != 1 or len(sample[name]) != n):
            raise LabelMismatchError(f"{path}: pixel sample is damaged ({name} holds "
                                     f"{sample[name].size} pixels, truth {n}); {fix}")
    try:
        sample["schema"] = ClassSchema.from_dict(json.loads(str(sample["schema"])))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabelMismatchError(f"{path}: pixel sample has no valid class schema ({exc}); "
                                 f"{fix}") from exc
    return sample


def runs_in(result_dir):
    """{exp: [npz paths]} of the pixel samples found in ``result_dir``."""
    runs = {}
    for path in sorted(Path(result_dir).glob(f"*{SUFFIX}")):
        exp = str(read_sample(path)["exp"])
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
    parts, stems, schema = [], [], None
    for path in runs[exp]:
        z = read_sample(path)
        if schema is None:
            schema = z["schema"]
        elif z["schema"].to_dict() != schema.to_dict():
            raise LabelMismatchError(f"{path} uses another class schema than the other "
                                     f"images of run {exp!r}; pool runs of one schema")
        n = len(z["truth"])
        labelled = int(z["labelled_pixels"]) if "labelled_pixels" in z else n
        parts.append((z["truth"], z.get("cnn"), z["csc"],
                      np.full(n, labelled / max(n, 1), dtype=np.float64)))
        stems.append(str(z["stem"]))
    truth, cnns, csc, weight = zip(*parts)
    truth, csc, weight = (np.concatenate(a) for a in (truth, csc, weight))
    cnn = None if any(c is None for c in cnns) else np.concatenate(cnns)
    return PooledRun(result_dir, exp, stems, truth, cnn, csc, weight, schema)


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


def write_summary(frame, out, *, result_dirs=()):
    """Write the tidy CSV at ``out`` and its bar chart beside it (same name, ``.png``).

    Neither may overwrite a file summarize did not create: ``OutputError`` before anything is
    written when ``out`` is its own chart path (``x.png``), or when either path is a pixel
    sample or a file the runs of ``result_dirs`` wrote (a manifest ``*_run.json``, a file it
    lists, a class map or a ``CSC_``/``CNN_`` report)."""
    out = Path(out)
    png = out.with_suffix(".png")
    if png == out:
        raise OutputError(f"--out {out}: the bar chart is written beside the CSV as "
                          f"{png.name}, so it would overwrite the CSV; give a .csv path "
                          f"(e.g. {out.with_suffix('.csv')})")
    protected = {}
    for result_dir in result_dirs:
        protected.update(_run_files(result_dir))
    for path in (out, png):
        what = ("a pixel sample of `csc classify`" if path.name.endswith(SUFFIX)
                else protected.get(_resolved(path)))
        if what is not None:
            role = "--out" if path == out else f"the bar chart {path.name} of --out {out}"
            raise OutputError(f"{role}: {path} is {what}; summarize never overwrites the "
                              "files of the runs it pools, choose another --out (default "
                              "pooled_summary.csv in the first RESULT_DIR)")
    write_csv(out, frame.round(6))
    png = plot_summary(frame, png)
    return out, Path(png)


def _resolved(path):
    return Path(path).expanduser().resolve()


def _run_files(result_dir):
    """{resolved path: what it is} of the files the runs wrote in ``result_dir``."""
    files = {}
    folder = Path(result_dir)
    for manifest in sorted(folder.glob("*_run.json")):
        files[_resolved(manifest)] = "a run manifest"
        for name in recorded_outputs(manifest):
            files[_resolved(folder / name)] = f"an output listed in the manifest {manifest.name}"
    for path in folder.iterdir() if folder.is_dir() else ():
        name = path.name
        if name.endswith(SUFFIX):
            files.setdefault(_resolved(path), "a pixel sample of `csc classify`")
        elif name.startswith(("CSC_", "CNN_")) or "_classified." in name:
            files.setdefault(_resolved(path), "an output of `csc classify`")
    return files
