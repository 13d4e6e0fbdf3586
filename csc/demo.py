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

from csc.cli import cli
from csc.cli.output import echo_table


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


def _f1(path):
    report = pd.read_csv(path)
    return report.set_index("Class")["F1_score"]


def summary_table(out, held_dir):
    """Per-class F1 of phase one, CSC at k=1 and k=5 and the baseline; front errors."""
    import json

    columns = {}
    for stem in sorted(p.stem for p in held_dir.glob("scene_*.tif")):
        columns["CNN (phase one)"] = _f1(out / "csc_k1" / f"CNN_{stem}_k1.csv")
        columns["CSC k=1"] = _f1(out / "csc_k1" / f"CSC_{stem}_k1.csv")
        columns["CSC k=5"] = _f1(out / "csc_k5" / f"CSC_{stem}_k5.csv")
        columns["LightGBM"] = _f1(out / "baseline" / f"BASE_{stem}_lightgbm.csv")
        table = pd.DataFrame(columns)
        table.index.name = "F1"
        echo_table(table.reset_index())
        run_json = json.loads((out / "csc_k5" / f"{stem}_run.json").read_text())
        front = run_json.get("front") or {}
        if front.get("front_found"):
            click.echo(f"calving front (k=5 map): length {front['length_m'] / 1000:.1f} km, "
                       f"median error {front['median_error_m']:.0f} m, "
                       f"{front['percent_within_100m']:.0f} % within 100 m of EDGE_{stem}")
        else:
            click.echo(f"calving front: not found ({front.get('reason', 'front step skipped')})")
    sweep = out / "sweep" / "sweep_summary.csv"
    if sweep.exists():
        click.echo("\nsweep summary:")
        frame = pd.read_csv(sweep)
        keep = [c for c in frame.columns if c in ("PatchSize", "cnn_weighted_f1",
                                                   "csc_weighted_f1", "csc_glacier_f1",
                                                   "front_median_error_m", "seconds", "status")]
        echo_table(frame[keep])


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo_output", show_default=True)
@click.option("--size", type=int, default=768, show_default=True, help="Scene size in pixels.")
@click.option("--width", type=float, default=0.25, show_default=True,
              help="VGG16 width for the CPU-sized phase-one model.")
@click.option("--epochs", type=int, default=12, show_default=True, help="Phase-one epochs.")
@click.option("--seed", type=int, default=0, show_default=True)
def main(out, size, width, epochs, seed):
    """Synthesise scenes, train phase one, run CSC, fronts, a baseline and a small sweep."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    train_dir, held_dir = out / "scenes" / "train", out / "scenes" / "heldout"
    model = out / "models" / "vgg16_demo.keras"

    heading("1. Synthetic Sentinel-2 glacier scenes (three for training, one held out)")
    run("synth", out / "scenes" / "all", "--scenes", 4, "--size", size, "--seed", seed)
    for folder, stems in [(train_dir, ["scene_000", "scene_001", "scene_002"]),
                          (held_dir, ["scene_003"])]:
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

    heading("4. CSC on the held-out scene: phase two at patch sizes 1 and 5, with the front")
    for k in (1, 5):
        run("classify", held_dir, "--model", model, "--patch-size", k, "--out", out / f"csc_k{k}",
            "--samples-per-class", 20000, "--epochs", 40, "--patience", 5, "--seed", seed)

    heading("5. LightGBM pixel baseline trained on the labels of the training scenes")
    run("baseline", train_dir, held_dir, "--out", out / "baseline", "--learner", "lightgbm",
        "--samples-per-class", 5000, "--window", 5, "--seed", seed)

    heading("6. A small sweep: patch sizes 1, 3, 5 from a job list")
    jobs = out / "sweep" / "jobs.csv"
    jobs.parent.mkdir(parents=True)
    pd.DataFrame({"Model": model.stem, "DataSource": "../scenes/heldout", "OutFolder": "results",
                  "ExpShortHand": "demo", "Dims": 4, "PatchSize": [1, 3, 5], "TileSize": 50,
                  "WholeImage": 1, "Patience": 5, "Done": 0, "SamplesPerClass": 20000,
                  "Epochs": 40, "Seed": seed}).to_csv(jobs, index=False)
    run("batch", jobs, "--models-dir", model.parent)

    heading("Summary: per-class F1 on the held-out scene")
    summary_table(out, held_dir)
    click.secho(f"\nDemo finished in {time.perf_counter() - started:.0f} s; outputs in {out}/",
                bold=True)


if __name__ == "__main__":
    sys.exit(main())
