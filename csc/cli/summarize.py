"""``csc summarize``: pooled scores of many runs."""
from pathlib import Path

import click

from csc.cli.output import echo_table


@click.command()
@click.argument("result_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Tidy CSV of pooled scores (default: pooled_summary.csv in the first "
                   "RESULT_DIR); a bar chart .png is written beside it.")
def summarize(result_dirs, out):
    """Pool the labelled pixels of many images and runs (RESULT_DIRs of `csc classify`):
    per-class and overall F1 of phase one and CSC per run (result folder × experiment)."""
    from CSC_Application.summary import headline, summarize as pool, write_summary

    frame = pool(result_dirs)
    out = Path(out) if out else Path(result_dirs[0]) / "pooled_summary.csv"
    csv_path, png_path = write_summary(frame, out, result_dirs=result_dirs)
    echo_table(headline(frame))
    click.echo(f"wrote {csv_path} and {png_path}")


COMMANDS = (summarize,)
