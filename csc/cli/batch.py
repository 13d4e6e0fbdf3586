"""``csc batch``: a CSV job list of classification experiments, resumable."""
from pathlib import Path

import click

from csc.options import CLASSIFY


@click.command("batch")
@click.argument("jobs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--models-dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder holding <Model>.keras and <Model>.json for the Model column.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Run jobs on N local Dask worker processes (default: one after another "
                   "in this process).")
@click.option("--threads-per-job", type=click.IntRange(min=1), default=1, show_default=True,
              help="TensorFlow threads of every job. Jobs with the same threads give identical "
                   "results sequentially or on any number of workers; use --workers for more "
                   "cores.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run jobs on an existing Dask cluster, e.g. tcp://10.0.0.5:8786.")
@click.option("--retry-failed", is_flag=True,
              help="Also rerun the jobs marked Done=-1.")
@CLASSIFY.click_options(names=[o.name for o in CLASSIFY if o.name not in ("patch_size", "exp")],
                        unset=True)
def batch_command(jobs, models_dir, workers, threads_per_job, scheduler, retry_failed,
                  **options):
    """Run the experiments of the job list JOBS (a CSV, one row per job).

    Runs every row whose Done is 0, rewriting JOBS after each job (Done=1, or Done=-1 and an
    Error), so running the command again resumes an interrupted sweep. Columns override the
    option defaults given here. Writes sweep_summary.csv and plots beside JOBS. Exits with
    code 1 when a job failed, 2 when the job list is invalid (nothing is run then)."""
    if workers is not None and scheduler is not None:
        raise click.BadParameter("give --workers or --scheduler, not both",
                                 param_hint="--workers/--scheduler")
    from batch.runner import run_sweep

    defaults = {name: value for name, value in options.items() if value is not None}
    result = run_sweep(jobs, models_dir=models_dir, defaults=defaults, workers=workers,
                       scheduler=scheduler, retry_failed=retry_failed, progress=True,
                       threads_per_job=threads_per_job)
    click.echo(result.summary())
    if result.failed:
        click.echo(f"{result.failed} job(s) failed; see the Error column of {jobs}", err=True)
        raise SystemExit(1)


COMMANDS = (batch_command,)
