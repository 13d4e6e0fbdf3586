"""Resumable sweeps over a job list.

:func:`run_sweep` validates every row, then runs the jobs whose ``Done`` is 0 (and those
marked -1 with ``retry_failed``). After each job it rewrites the job list atomically with
``Done=1`` — or ``Done=-1`` and the reason in ``Error`` — so a sweep killed at any moment loses
at most the jobs that were running, and running it again picks up where it stopped. Only this
(client) process writes the job list, whichever executor runs the jobs. At the end it writes
``sweep_summary.csv`` and its plots beside the job list.
"""
import contextlib
import dataclasses
import fcntl
import logging
import os
import shutil
from pathlib import Path

from batch.executors import JOB_THREADS, make_executor, stale_folders
from batch.jobs import DONE, FAILED, PENDING, parse_jobs, read_table
from batch.report import SUMMARY_NAME, write_sweep_report
from csc.errors import JobListError, OptionError
from csc.files import write_csv
from csc.options import CLASSIFY

log = logging.getLogger(__name__)


@contextlib.contextmanager
def sweep_lock(jobs_csv):
    """Hold an operating-system lock (``flock``) on ``.<jobs>.lock`` beside the job list while
    a sweep runs, so two sweeps never rewrite the same list. The kernel releases it when its
    holder dies, however it dies, so a lock file left by a killed sweep is simply taken over
    (a PID written in a file could name a zombie or a reused PID)."""
    lock = jobs_csv.with_name(f".{jobs_csv.name}.lock")
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobListError(f"{jobs_csv} is being run by another sweep (it holds the lock "
                               f"{lock}); wait for that sweep to finish") from None
        try:   # the holder before us may have removed the file after we opened it
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        os.close(fd)


def check_defaults(defaults):
    """The classification defaults as a dict, after checking them against the option table."""
    try:
        return CLASSIFY.check(dict(defaults or {}))
    except OptionError as exc:
        raise JobListError(f"default options: {exc}") from exc


def remove_stale(jobs):
    """Delete the temporary folders killed runs of these jobs left behind."""
    for job in jobs:
        for folder in stale_folders(job):
            log.info("removing %s, left by an interrupted run", folder)
            shutil.rmtree(folder, ignore_errors=True)


def mark(table, result):
    """Record ``result`` in the job-list ``table`` (text cells)."""
    if "Done" not in table.columns:
        table["Done"] = str(PENDING)
    if not result.ok and "Error" not in table.columns:
        table["Error"] = ""
    table.loc[table.index[result.row], "Done"] = str(DONE if result.ok else FAILED)
    if "Error" in table.columns:
        table.loc[table.index[result.row], "Error"] = result.error


@dataclasses.dataclass
class SweepResult:
    """The sweep summary (one row per job) and where it was written."""

    frame: object
    jobs_csv: Path

    @property
    def failed(self):
        return int((self.frame["status"] == "failed").sum())

    def summary(self):
        columns = [c for c in ("Line", "Model", "PatchSize", "cnn_weighted_f1",
                               "csc_weighted_f1", "csc_glacier_f1", "front_median_error_m",
                               "seconds", "status") if c in self.frame]
        table = self.frame[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return f"{table}\nsummary: {self.jobs_csv.parent / SUMMARY_NAME}"


def run_sweep(jobs_csv, *, models_dir, defaults=None, workers=None, scheduler=None,
              retry_failed=False, progress=True, threads_per_job=JOB_THREADS):
    """Run the pending jobs of ``jobs_csv``; return a :class:`SweepResult` (one row per job).

    ``defaults`` are classification options (``ClassifyOptions`` field names) for every job;
    a job-list column overrides them for its row. ``workers`` runs jobs on that many local
    Dask worker processes, ``scheduler`` on an existing Dask cluster; neither runs them one
    after another in this process. Each job seeds itself, so the results do not depend on
    where or in which order jobs run; every job runs TensorFlow with ``threads_per_job``
    threads, so the results do not depend on the executor either."""
    jobs_csv = Path(jobs_csv)
    executor = make_executor(workers=workers, scheduler=scheduler, threads=threads_per_job)
    with sweep_lock(jobs_csv):
        table = read_table(jobs_csv)
        jobs = parse_jobs(table, path=jobs_csv, models_dir=models_dir)
        defaults = check_defaults(defaults)
        remove_stale(jobs)
        wanted = (PENDING, FAILED) if retry_failed else (PENDING,)
        todo = [job for job in jobs if job.done in wanted]
        skipped = sum(job.done == FAILED for job in jobs) if not retry_failed else 0
        log.info("%s: %d job(s) to run, %d done%s", jobs_csv.name, len(todo),
                 sum(job.done == DONE for job in jobs),
                 f", {skipped} failed (rerun them with --retry-failed)" if skipped else "")
        done = {job.row: job.done for job in jobs}
        if todo:
            done.update(_run(executor, todo, defaults, table, jobs_csv, progress=progress))
        frame = write_sweep_report(jobs_csv, jobs, done=done, defaults=defaults,
                                   errors=_errors(table))
        return SweepResult(frame=frame, jobs_csv=jobs_csv)


def _errors(table):
    if "Error" not in table.columns:
        return {}
    return {row: text for row, text in enumerate(table["Error"]) if text}


def _run(executor, todo, defaults, table, jobs_csv, *, progress):
    """Run ``todo``, rewriting the job list after each job; return {row: new Done value}."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    by_row = {job.row: job for job in todo}
    redirect = logging_redirect_tqdm() if progress else contextlib.nullcontext()
    failed, done = 0, {}
    with executor, redirect, tqdm(total=len(todo), unit="job", desc="sweep",
                                  disable=None if progress else True) as bar:
        log.info("running %d job(s) %s", len(todo), executor.description)
        for result in executor.run(todo, defaults, tag=str(os.getpid())):
            mark(table, result)
            write_csv(jobs_csv, table)
            done[result.row] = DONE if result.ok else FAILED
            job = by_row[result.row]
            if result.ok:
                log.info("line %d done: %s (%d image(s), %.1f s)", job.line, job.out_dir,
                         result.images, result.seconds)
            else:
                failed += 1
                log.warning("line %d failed after %.1f s: %s", job.line, result.seconds,
                            result.error)
            bar.update()
    if failed:
        log.warning("%d of %d job(s) failed; their Error column says why (rerun them with "
                    "--retry-failed)", failed, len(todo))
    return done
