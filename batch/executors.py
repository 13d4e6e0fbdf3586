"""Where jobs run.

:func:`run_job` runs one job from start to finish and never raises: its outputs go to a
temporary folder beside the final one and are moved into place only when complete, so a job
killed at any moment leaves no half-written result that looks finished. It is a plain
module-level function of picklable arguments, so a Dask worker runs it exactly as this process
does. The executors run many jobs and yield their results as they finish:
:class:`SequentialExecutor` in this process, one after another; :class:`DaskExecutor` on a
local ``dask.distributed`` cluster (``workers``) or an existing one (``scheduler``).
"""
import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import time
import uuid

from batch.jobs import OLD_TAG, PARTIAL_TAG
from csc.backend import setup_backend
from csc.errors import CscError, OutputError
from csc.files import missing_folders, remove_empty, write_csv, write_json
from CSC_Application.run import classify_path

log = logging.getLogger(__name__)

JOB_RECORD = "job.json"
SUMMARY = "summary.csv"


class ExecutorError(CscError, ValueError):
    """The executor options are inconsistent (e.g. both workers and a scheduler)."""


class ClusterError(CscError, ConnectionError):
    """The Dask cluster cannot be reached or started, or lacks a resource jobs ask for."""


class JobFailedError(CscError, RuntimeError):
    """Some images of a job could not be classified."""


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What the client needs to mark a job in the job list."""

    row: int
    status: str            # "done" or "failed"
    error: str = ""
    seconds: float = 0.0
    images: int = 0
    host: str = ""

    @property
    def ok(self):
        return self.status == "done"


def describe_error(exc, *, limit=2000):
    """One line (at most ``limit`` characters) for the job list's Error column."""
    text = str(exc) if isinstance(exc, CscError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def publish(partial, final):
    """Move the finished folder ``partial`` onto ``final`` (replacing an earlier result, a
    folder). ``OutputError`` when ``final`` is a file: it is not the job's to replace."""
    old = None
    if final.exists() and not final.is_dir():
        raise OutputError(f"{final} exists and is a file, not a job's output folder; move it "
                          "away or give the job another OutFolder")
    if final.exists():
        old = final.with_name(f".{final.name}{OLD_TAG}{os.getpid()}")
        os.replace(final, old)
    os.replace(partial, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def stale_folders(job):
    """Leftovers of killed runs of ``job``: temporary folders beside its output folder."""
    parent = job.out_dir.parent
    if not parent.is_dir():
        return []
    prefixes = (f".{job.out_dir.name}{PARTIAL_TAG}", f".{job.out_dir.name}{OLD_TAG}")
    return sorted(p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefixes))


def image_failures(frame):
    """Error lines of the images of a classify run that did not succeed."""
    bad = frame[frame["status"].astype(str) != "ok"]
    return [f"{row.image}: {row.error}" for row in bad.itertuples()]


def run_job(job, defaults=None, *, tag, threads=None):
    """Run ``job`` (a :class:`batch.jobs.Job`) with ``defaults`` under its row's options.

    Outputs are written to ``job.partial_dir(tag)`` and moved onto ``job.out_dir`` when every
    image succeeded, together with ``job.json`` (the options used and the run time) and
    ``summary.csv`` (one row per image).
    ``threads`` caps TensorFlow's thread pools (a worker's share of the cores). Returns a
    :class:`JobResult`; a failure is reported in it, never raised, so a sweep goes on."""
    start = time.perf_counter()
    host = socket.gethostname()
    partial = job.partial_dir(tag)
    made = []
    try:
        options = job.classify_options(defaults)
        if partial.exists():
            shutil.rmtree(partial)
        made = missing_folders(partial)
        partial.mkdir(parents=True)
        setup_backend(threads=threads)  # size the thread pools before the job's first TF op
        frame = classify_path(job.data_source, job.model_path, partial, options,
                              progress=False).frame
        failures = image_failures(frame)
        if failures:
            raise JobFailedError(f"{len(failures)} of {len(frame)} image(s) failed: "
                                 + "; ".join(failures))
        if not (partial / SUMMARY).exists():  # a single image: classify writes no summary
            write_csv(partial / SUMMARY, frame)
        seconds = time.perf_counter() - start
        write_json(partial / JOB_RECORD, {
            "line": job.line, "model": str(job.model_path), "data_source": str(job.data_source),
            "options": options.to_dict(), "images": len(frame), "seconds": round(seconds, 3),
            "host": host, "threads": threads})
        publish(partial, job.out_dir)
        log.debug("job on line %d finished in %.1f s", job.line, seconds)
        return JobResult(row=job.row, status="done", seconds=seconds, images=len(frame),
                         host=host)
    except Exception as exc:  # a failed job is recorded and the sweep goes on
        log.debug("job on line %d failed", job.line, exc_info=True)
        return JobResult(row=job.row, status="failed", error=describe_error(exc),
                         seconds=time.perf_counter() - start, host=host)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
        remove_empty(made)   # a failed job leaves no empty output folder behind


#: TensorFlow threads of every job, whatever runs it. TensorFlow's CPU convolution gradients
#: sum in an order that depends on the thread count, so jobs given the same number of threads
#: give identical results sequentially, on any number of local workers or on a cluster; more
#: cores are used by running more jobs at once (``--workers``).
JOB_THREADS = 1


class SequentialExecutor(contextlib.AbstractContextManager):
    """Runs jobs one after another in this process, each with ``threads`` TensorFlow threads
    (set once per process: the first job's setting stays)."""

    def __init__(self, *, threads=JOB_THREADS):
        self.threads = int(threads)
        self.description = f"sequentially in this process, {self.threads} thread(s)"

    def __exit__(self, *exc):
        return False

    def run(self, jobs, defaults, *, tag):
        for job in jobs:
            yield run_job(job, defaults, tag=tag, threads=self.threads)


class DaskExecutor(contextlib.AbstractContextManager):
    """Runs jobs on Dask workers and yields results as they complete.

    ``workers=N`` starts a local cluster of N single-threaded worker processes, each job
    running TensorFlow with ``threads`` threads; ``scheduler=ADDRESS`` uses an existing
    cluster, where a job with ``GPU`` set asks for the worker resource ``GPU`` (start GPU
    workers with ``dask worker ADDRESS --resources GPU=1``)."""

    def __init__(self, *, workers=None, scheduler=None, threads=JOB_THREADS):
        if (workers is None) == (scheduler is None):
            raise ExecutorError("give either a number of local workers or a scheduler address, "
                                "not both")
        if workers is not None and int(workers) < 1:
            raise ExecutorError(f"--workers must be 1 or more, got {workers}")
        self.workers = None if workers is None else int(workers)
        self.scheduler = scheduler
        self.cluster = None
        self.client = None
        self.threads = int(threads)
        if self.workers:
            self.description = (f"on {self.workers} local Dask worker(s), {self.threads} "
                                "thread(s) each")
        else:
            self.description = f"on the Dask cluster at {scheduler}"

    def __enter__(self):
        from dask.distributed import Client, LocalCluster

        if self.workers:
            try:
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                            processes=True, dashboard_address=None,
                                            silence_logs=logging.ERROR)
            except (OSError, RuntimeError, TimeoutError) as exc:
                raise ClusterError(f"cannot start {self.workers} local Dask worker(s) ({exc}); "
                                   "run with fewer --workers, or without --workers to run "
                                   "the jobs in this process") from exc
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(self.scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"cannot reach the Dask scheduler at {self.scheduler} "
                                   f"({exc}); start it with `dask scheduler` or fix "
                                   "--scheduler") from exc
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def _resources(self, job):
        if job.gpu and self.scheduler:
            return {"GPU": 1}
        return None

    def run(self, jobs, defaults, *, tag):
        from dask.distributed import as_completed

        gpu_lines = [str(job.line) for job in jobs if job.gpu]
        if self.scheduler and gpu_lines:
            offered = [w.get("resources", {}) for w in
                       self.client.scheduler_info().get("workers", {}).values()]
            if not any(r.get("GPU") for r in offered):
                raise ClusterError(
                    f"the jobs on line(s) {', '.join(gpu_lines)} ask for a GPU but no worker of "
                    f"the cluster at {self.scheduler} offers the resource GPU; start GPU "
                    f"workers with `dask worker {self.scheduler} --resources GPU=1`, or set "
                    "their GPU column to 0")
        token = uuid.uuid4().hex[:8]
        futures, owners = [], {}
        for job in jobs:
            future = self.client.submit(run_job, job, defaults, tag=tag, threads=self.threads,
                                        key=f"csc-job-line{job.line}-{token}", pure=False,
                                        resources=self._resources(job))
            futures.append(future)
            owners[future.key] = job
        for future in as_completed(futures):
            yield self._result(future, owners[future.key])

    @staticmethod
    def _result(future, job):
        try:
            return future.result()
        except Exception as exc:  # a lost worker fails the job, not the sweep
            log.debug("job on line %d: no result from Dask", job.line, exc_info=True)
            return JobResult(row=job.row, status="failed",
                             error=f"Dask returned no result ({describe_error(exc)}); the "
                                   "worker may have run out of memory or been killed")


def make_executor(*, workers=None, scheduler=None, threads=JOB_THREADS):
    """The executor for these options: sequential when neither is given."""
    if workers is None and scheduler is None:
        return SequentialExecutor(threads=threads)
    return DaskExecutor(workers=workers, scheduler=scheduler, threads=threads)
