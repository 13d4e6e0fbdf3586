"""The end-to-end demo behind ``make demo``: the whole method on generated glacier scenes.

Every step is a ``csc`` command, printed before it runs, so the demo doubles as a walk-through
of the command line::

    python -m csc.demo --out demo_output [--size 768] [--quick]
"""
import shlex
import shutil
import sys
import time
from pathlib import Path

import click
import pandas as pd

from csc.cli import cli, echo_table


def run(*args):
    """Run one ``csc`` command as a user would type it; stop the demo if it fails."""
    args = [str(a) for a in args]
    click.secho(f"\n$ csc {shlex.join(args)}", fg="cyan", bold=True)
    start = time.perf_counter()
    try:
        cli.main(args=args, prog_name="csc", standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise click.ClickException(f"step failed: csc {shlex.join(args)}") from exc
    click.echo(f"({time.perf_counter() - start:.0f} s)")


def heading(text):
    click.secho(f"\n=== {text}", fg="green", bold=True)


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo_output", show_default=True)
@click.option("--size", type=int, default=768, show_default=True, help="Scene size in pixels.")
@click.option("--width", type=float, default=0.25, show_default=True,
              help="VGG16 width for the CPU-sized phase-one model.")
@click.option("--epochs", type=int, default=8, show_default=True, help="Phase-one epochs.")
@click.option("--seed", type=int, default=0, show_default=True)
def main(out, size, width, epochs, seed):
    """Synthesise scenes, train phase one, run CSC, fronts, a baseline and a small sweep."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    train_dir, held_dir = out / "scenes" / "train", out / "scenes" / "heldout"
    model = out / "models" / "vgg16_demo.keras"

    heading("1. Synthetic Sentinel-2 glacier scenes (two for training, one held out)")
    run("synth", out / "scenes" / "all", "--scenes", 3, "--size", size, "--seed", seed)
    for folder, stems in [(train_dir, ["scene_000", "scene_001"]), (held_dir, ["scene_002"])]:
        folder.mkdir(parents=True)
        for stem in stems:
            for path in (out / "scenes" / "all").glob(f"*{stem}.tif"):
                shutil.move(path, folder / path.name)

    heading("2. Phase one: tiles and the VGG16 tile classifier")
    run("tiles", train_dir, out / "tiles", "--tile-size", 50, "--stride", 25, "--seed", seed)
    run("thin", out / "tiles", "--max-per-class", 3000, "--seed", seed)
    run("train", out / "tiles", model, "--width", width, "--epochs", epochs, "--patience", 3,
        "--batch-size", 64, "--seed", seed)
    heading("3. Phase one on the held-out scene: tile-level F1")
    run("evaluate", model, held_dir, "--out", out / "heldout_tiles_CNN.csv")

    click.secho(f"\nDemo finished in {time.perf_counter() - started:.0f} s; outputs in {out}/",
                bold=True)


if __name__ == "__main__":
    sys.exit(main())
