"""The sweep summary: one row per job — its parameters, the phase-one (CNN) and phase-two (CSC)
F1 scores pooled over its images, the calving-front error, the run time and the status — and
plots of F1 and run time against patch size, written beside the job list."""
import json
import logging
import math
from pathlib import Path

import pandas as pd

from batch.executors import JOB_RECORD, SUMMARY
from batch.jobs import COLUMNS, DONE, FAILED
from csc.errors import MissingLabelError
from csc.figures import plt, save
from csc.files import write_csv
from CSC_Application.summary import headline, pool_run, run_scores

log = logging.getLogger(__name__)

SUMMARY_NAME = "sweep_summary.csv"
F1_PLOT = "sweep_f1.png"
RUNTIME_PLOT = "sweep_runtime.png"
#: ClassifyOptions field -> job-list column name.
OPTION_COLUMNS = {c.option: c.name for c in COLUMNS if c.option}
SCORES = ("cnn_weighted_f1", "csc_weighted_f1", "cnn_glacier_f1", "csc_glacier_f1")


def job_scores(job, experiment):
    """Pooled F1 scores, median front error and image count of a finished job's outputs.

    ``experiment`` names the run in the output folder (``ClassifyOptions.experiment``)."""
    scores = {}
    try:
        pooled = pool_run(job.out_dir, exp=experiment)
    except MissingLabelError:  # no SCLS_ labels: nothing to score
        pooled = None
    if pooled is not None:
        (head,) = headline(run_scores(pooled)).to_dict("records")
        scores = {key: head[key] for key in SCORES}
    per_image = job.out_dir / SUMMARY
    if per_image.exists():
        frame = pd.read_csv(per_image)
        scores["images"] = len(frame)
        errors = pd.to_numeric(frame["front_median_error_m"], errors="coerce").dropna()
        scores["front_median_error_m"] = float(errors.median()) if len(errors) else math.nan
    return scores


def _record(job):
    path = job.out_dir / JOB_RECORD
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


def job_row(job, *, done, defaults, error=""):
    """One summary row for ``job`` (a ``batch.jobs.Job``)."""
    record = _record(job) if done == DONE else {}
    options = record.get("options") or job.classify_options(defaults).to_dict()
    row = {"Line": job.line, "Model": job.model, "TileSize": job.tile_size, "Dims": job.bands,
           "DataSource": str(job.data_source), "OutFolder": str(job.out_dir)}
    for option, value in options.items():
        column = OPTION_COLUMNS.get(option, option)
        row[column] = int(value) if isinstance(value, bool) else value
    status = {DONE: "done", FAILED: "failed"}.get(done, "pending")
    scores = dict.fromkeys(SCORES, math.nan)
    scores.update(images=math.nan, front_median_error_m=math.nan)
    if status == "done":
        if job.out_dir.is_dir():
            try:
                scores.update(job_scores(job, options["experiment"]))
            except (OSError, ValueError, KeyError) as exc:  # one bad result hides no other
                log.warning("line %d: cannot summarise %s: %s", job.line, job.out_dir, exc)
                status, error = "unreadable", str(exc)
        else:
            status, error = "missing", f"{job.out_dir} is gone; set Done to 0 to run it again"
    row.update(scores)
    row.update(seconds=record.get("seconds", math.nan), status=status, error=error)
    return row


def sweep_summary(jobs, *, done, defaults=None, errors=None):
    """The summary table of ``jobs``; ``done`` maps job rows to their Done value."""
    errors = errors or {}
    rows = [job_row(job, done=done.get(job.row, job.done), defaults=defaults,
                    error=errors.get(job.row, "")) for job in jobs]
    summary = pd.DataFrame(rows)
    summary["images"] = summary["images"].astype("Int64")
    return summary


def write_sweep_report(jobs_csv, jobs, *, done, defaults=None, errors=None):
    """Write ``sweep_summary.csv`` and the plots beside ``jobs_csv``; return the summary."""
    folder = Path(jobs_csv).parent
    summary = sweep_summary(jobs, done=done, defaults=defaults, errors=errors)
    write_csv(folder / SUMMARY_NAME, summary)
    plot_sweep(summary, folder)
    return summary


def _groups(summary):
    """(label, rows sorted by patch size) for each model (and data source, when several)."""
    finished = summary[summary["status"] == "done"]
    several = finished["DataSource"].nunique() > 1
    keys = ["Model", "TileSize"] + (["DataSource"] if several else [])
    for key, rows in finished.groupby(keys, sort=True):
        label = f"{key[0]} (tile {key[1]})" + (f", {Path(key[2]).name}" if several else "")
        yield label, rows.sort_values("PatchSize")


def plot_sweep(summary, folder):
    """``sweep_f1.png`` (CSC and CNN F1 against patch size, one line per model / tile size)
    and ``sweep_runtime.png`` (seconds per job against patch size) in ``folder``."""

    folder = Path(folder)
    groups = list(_groups(summary))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    panels = [("weighted", "weighted F1 (all classes)"), ("glacier", "glacier-ice F1")]
    for ax, (kind, title) in zip(axes, panels):
        for i, (label, rows) in enumerate(groups):
            colour = f"C{i % 10}"
            ax.plot(rows["PatchSize"], rows[f"csc_{kind}_f1"], "o-", color=colour,
                    label=f"{label} CSC")
            ax.plot(rows["PatchSize"], rows[f"cnn_{kind}_f1"], "s--", color=colour, alpha=0.6,
                    label=f"{label} CNN")
        ax.set_title(title)
        ax.set_xlabel("patch size K")
        ax.set_ylabel("F1 pooled over images")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    _patch_ticks(axes, summary)
    if groups:
        axes[1].legend(fontsize=8, loc="best")
    else:
        _empty(axes)
    fig.suptitle("F1 against patch size")
    save(fig, folder / F1_PLOT)

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, (label, rows) in enumerate(groups):
        ax.plot(rows["PatchSize"], rows["seconds"], "o-", color=f"C{i % 10}", label=label)
    ax.set_xlabel("patch size K")
    ax.set_ylabel("seconds per job")
    ax.set_title("run time against patch size")
    ax.grid(alpha=0.3)
    _patch_ticks([ax], summary)
    if groups:
        ax.legend(fontsize=8)
    else:
        _empty([ax])
    save(fig, folder / RUNTIME_PLOT)
    return folder / F1_PLOT, folder / RUNTIME_PLOT


def _patch_ticks(axes, summary):
    sizes = sorted({int(k) for k in summary["PatchSize"].dropna()})
    for ax in axes:
        if sizes:
            ax.set_xticks(sizes)


def _empty(axes):
    for ax in axes:
        ax.text(0.5, 0.5, "no finished jobs", ha="center", va="center",
                transform=ax.transAxes, color="0.5")

