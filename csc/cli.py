"""The ``csc`` command line: one click group, each command a thin layer over a library call.

Stages are imported inside the commands that need them, so ``csc --help`` is fast and does not
load TensorFlow."""
import logging
import sys
from pathlib import Path

import click

from csc import __version__
from csc.errors import CscError
from csc.options import (bands_option, classes_option, odd_patch_size, offset_option,
                         scale_option, seed_option)

log = logging.getLogger("csc")


class CscGroup(click.Group):
    """Turns a ``CscError`` into one line on stderr and exit code 2, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CscError as exc:
            click.echo(f"csc: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=CscGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="csc")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output.")
def cli(verbose, quiet):
    """CNN-Supervised Classification of glacial landscapes.

    Phase one: a VGG16 CNN labels image tiles. Phase two: a small per-image learner trained on
    those tile labels classifies every pixel."""
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(level=max(logging.DEBUG, min(level, logging.CRITICAL)),
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("csc").setLevel(max(logging.DEBUG, min(level, logging.CRITICAL)))


def main(argv=None):
    cli.main(args=argv, prog_name="csc")


def echo_table(frame):
    """Print a DataFrame as an aligned table."""
    click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


# --- synthetic scenes -----------------------------------------------------------------------
# (csc synth)

def _scene_size(ctx, param, value):
    from csc.synthetic import MIN_SIZE

    if value < MIN_SIZE:
        raise click.BadParameter(f"scenes must be at least {MIN_SIZE} pixels square so every "
                                 f"class fits; got {value}. Use --size {MIN_SIZE} or more")
    return value


@cli.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--scenes", type=click.IntRange(min=1), default=4, show_default=True,
              help="Number of scenes to write (scene i uses seed SEED + i).")
@click.option("--size", type=int, default=1024, show_default=True, callback=_scene_size,
              help="Scene side in pixels of 10 m (at least 128).")
@seed_option
def synth(out, scenes, size, seed):
    """Write synthetic Sentinel-2 glacier scenes with their labels into OUT.

    Each scene_NNN.tif (B4, B3, B2, B8; reflectance x 10000; UTM 24N, 10 m) comes with
    SCLS_ (classes 1-7, unlabelled gaps like manual labels), EDGE_ (calving front) and VM_
    (valley margins) on the same grid."""
    from csc.synthetic import write_scenes

    paths = write_scenes(out, scenes=scenes, size=size, seed=seed)
    for path in paths:
        companions = ", ".join(f"{prefix}{path.name}" for prefix in ("SCLS_", "EDGE_", "VM_"))
        click.echo(f"wrote {path} ({size}x{size}, 4 bands) with {companions}")
    click.echo(f"{len(paths)} scene(s) in {out}")


# --- phase one ------------------------------------------------------------------------------
# (csc tiles, csc thin, csc train, csc finetune)

def _keras_verbosity():
    """A live progress bar on a terminal, one line per epoch in a log file."""
    return 1 if sys.stdout.isatty() else 2


@cli.command()
@click.argument("images_dir", type=click.Path(exists=True))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--tile-size", type=click.IntRange(min=1), default=50, show_default=True,
              help="Tile side in pixels (VGG16 needs at least 32).")
@click.option("--stride", type=click.IntRange(min=1), default=25, show_default=True,
              help="Pixels between tile origins; the last row and column are always tiled.")
@click.option("--purity", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Least share of a tile's labelled pixels in its dominant class (the mode).")
@click.option("--max-unlabelled", type=click.FloatRange(0, 1), default=0.10, show_default=True,
              help="Largest share of unlabelled or nodata pixels in a kept tile.")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Add the 8 rotations/flips of every training tile.")
@click.option("--noise", type=click.FloatRange(min=0), default=0.02, show_default=True,
              help="Uniform noise (scaled units) added to augmented tiles, then clipped.")
@bands_option
@scale_option
@offset_option
@classes_option
@click.option("--split", type=click.Choice(["block", "image"]), default="block",
              show_default=True,
              help="Hold out spatial blocks of every image, or whole images, for validation.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.2,
              show_default=True, help="Share of the tiles (or images) held out for validation.")
@click.option("--block-size", type=click.IntRange(min=1), default=None,
              help="Side of the validation blocks in pixels (default: 4 tiles).")
@click.option("--dtype", type=click.Choice(["float16", "float32"]), default="float16",
              show_default=True, help="Storage type of the tile arrays.")
@seed_option
def tiles(images_dir, out_dir, tile_size, stride, purity, max_unlabelled, augment, noise, bands,
          scale, offset, schema, split, val_fraction, block_size, dtype, seed):
    """Cut training tiles from labelled images (each with SCLS_<name>.tif beside it).

    Writes the memory-mappable arrays OUT_DIR/tiles_train.npy, labels_train.npy,
    tiles_val.npy and labels_val.npy, with tiles.csv, counts.csv and tiles.json (tile size,
    bands, scaling, classes)."""
    from Phase_1_CNN.tiles import make_tileset

    tileset = make_tileset(images_dir, out_dir, tile_size=tile_size, stride=stride,
                           purity=purity, max_unlabelled=max_unlabelled, augment=augment,
                           noise=noise, bands=bands, scale=scale, offset=offset, schema=schema,
                           split=split, val_fraction=val_fraction, block_size=block_size,
                           dtype=dtype, seed=seed, progress=True)
    for rec in tileset.meta["images"]:
        click.echo(f"{Path(rec['image']).name}: {rec['kept']} of {rec['positions']} positions "
                   f"kept ({rec['rejected_unlabelled']} too unlabelled, {rec['rejected_purity']} "
                   f"impure); {rec['train']} train, {rec['validation']} validation, "
                   f"{rec['dropped_overlap']} dropped for overlapping validation")
    echo_table(tileset.counts())
    click.echo(f"scaling {tileset.scaling.describe()}; {tileset.n('train')} training and "
               f"{tileset.n('val')} validation tiles of {tileset.tile_shape} {dtype} in "
               f"{tileset.path}")


@cli.command()
@click.argument("tiles_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--max-per-class", type=click.IntRange(min=1), required=True,
              help="Keep at most this many training tiles of each class.")
@click.option("--oversample/--no-oversample", default=False, show_default=True,
              help="Repeat (in random orientations) tiles of rarer classes up to the cap.")
@seed_option
def thin(tiles_dir, max_per_class, oversample, seed):
    """Balance the training classes of a tile set in place (validation is untouched)."""
    from Phase_1_CNN.thinning import thin_tileset

    before, after = thin_tileset(tiles_dir, max_per_class=max_per_class, oversample=oversample,
                                 seed=seed)
    table = before[["id", "class"]].assign(before=before["train"], after=after["train"])
    echo_table(table)
    click.echo(f"training tiles: {int(before['train'].sum())} -> {int(after['train'].sum())}")


def _training_options(*, lr, epochs):
    def decorate(f):
        for option in reversed([
            click.option("--epochs", type=click.IntRange(min=1), default=epochs,
                         show_default=True, help="Most epochs to run."),
            click.option("--batch-size", type=click.IntRange(min=1), default=32,
                         show_default=True, help="Tiles per batch."),
            click.option("--target-accuracy", type=click.FloatRange(0, 1), default=0.985,
                         show_default=True,
                         help="Stop once the validation accuracy reaches this."),
            click.option("--patience", type=click.IntRange(min=1), default=5,
                         show_default=True,
                         help="Epochs without a better validation accuracy before stopping "
                              "(the best weights are kept)."),
            click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True),
                         default=lr, show_default=True, help="Adam learning rate."),
            seed_option,
        ]):
            f = option(f)
        return f
    return decorate


def _echo_training(result):
    run = result.run
    echo_table(result.report)
    seconds = run.get("seconds_per_epoch")
    click.echo(f"{run['epochs']} epoch(s), stopped by {run['stopped_by']}; best validation "
               f"accuracy {run['best_val_accuracy']:.3f} at epoch {run['best_epoch']}; "
               f"{seconds:.1f} s per epoch on {run['device']}")
    click.echo("wrote " + ", ".join(str(p) for p in result.files.values()))


@cli.command()
@click.argument("tiles_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("model", type=click.Path(dir_okay=False))
@_training_options(lr=1e-4, epochs=20)
@click.option("--width", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True,
              help="Scale every VGG16 filter count (0.25 or 0.0625 train on a CPU).")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Local VGG16 'notop' ImageNet weights (.h5) to start from (width 1.0 only).")
def train(tiles_dir, model, epochs, batch_size, target_accuracy, patience, learning_rate, seed,
          width, weights):
    """Train the VGG16 tile classifier on a tile set; save MODEL (.keras) and its sidecar,
    history and validation report beside it."""
    from Phase_1_CNN.training import train as train_model

    result = train_model(tiles_dir, model, epochs=epochs, batch_size=batch_size,
                         target_accuracy=target_accuracy, patience=patience, width=width,
                         weights=weights, learning_rate=learning_rate, seed=seed,
                         verbose=_keras_verbosity())
    _echo_training(result)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("tiles_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@_training_options(lr=1e-5, epochs=10)
def finetune(model, tiles_dir, out, epochs, batch_size, target_accuracy, patience,
             learning_rate, seed):
    """Continue training MODEL on new tiles (same tile size, bands, scaling and classes) and
    save it as OUT with its sidecar (training runs appended)."""
    from Phase_1_CNN.training import finetune as finetune_model

    result = finetune_model(model, tiles_dir, out, learning_rate=learning_rate, epochs=epochs,
                            batch_size=batch_size, target_accuracy=target_accuracy,
                            patience=patience, seed=seed, verbose=_keras_verbosity())
    _echo_training(result)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("images", type=click.Path(exists=True))
@click.option("--stride", type=click.IntRange(min=1), default=None,
              help="Pixels between tiles (default: the tile size, no overlap).")
@click.option("--purity", type=click.FloatRange(0, 1), default=0.95, show_default=True)
@click.option("--max-unlabelled", type=click.FloatRange(0, 1), default=0.10, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the per-class report to this CSV.")
def evaluate(model, images, stride, purity, max_unlabelled, out):
    """Tile-level per-class F1 of a phase-one MODEL on held-out labelled IMAGES."""
    from csc.metrics import write_report
    from Phase_1_CNN.evaluation import evaluate_tiles

    report = evaluate_tiles(model, images, stride=stride, purity=purity,
                            max_unlabelled=max_unlabelled)
    echo_table(report)
    if out:
        write_report(out, report)


# --- phase two: CSC application -------------------------------------------------------------
# (csc classify, csc summarize)

@cli.command()
@click.argument("input", type=click.Path(exists=True))
@click.option("--model", type=click.Path(dir_okay=False), required=True,
              help="Phase-one model (.keras) with its sidecar .json beside it.")
@click.option("--patch-size", type=int, required=True, callback=odd_patch_size,
              help="Phase-two patch size K (odd): 1 = pixel MLP, 3/5/7/15 … = patch CNN.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Output folder (created if needed).")
@click.option("--samples-per-class", type=click.IntRange(min=1), default=500_000,
              show_default=True, help="Training pixels/patch centres per class (balanced).")
@click.option("--epochs", type=click.IntRange(min=1), default=300, show_default=True,
              help="Most epochs of phase-two training (early stopping ends it sooner).")
@click.option("--patience", type=click.IntRange(min=0), default=10, show_default=True,
              help="Epochs without a 0.005 gain in validation accuracy before stopping.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Phase-two training batch size.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Leave phase-one tiles below this top probability unlabelled.")
@click.option("--despeckle", type=click.IntRange(min=0), default=2, show_default=True,
              help="Majority-filter radius in pixels (0 = off).")
@click.option("--strip-rows", type=click.IntRange(min=1), default=None,
              help="Rows predicted per strip (default: from the available memory).")
@click.option("--whole-image", is_flag=True,
              help="Predict the whole image in one pass (small images).")
@click.option("--exp", default=None,
              help="Experiment name; outputs are tagged <exp>_k<K> (default k<K>).")
@seed_option
@click.option("--phase2", type=click.Choice(["nn", "mlp", "lightgbm", "rf"]), default="nn",
              show_default=True,
              help="Phase-two learner: nn (MLP at K=1, CNN at K≥3; mlp is an alias), or the "
                   "LightGBM / random-forest baselines.")
@click.option("--front/--no-front", default=None,
              help="Extract the calving front (default: when the schema has ocean and glacier "
                   "roles).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def classify(input, model, patch_size, out_dir, samples_per_class, epochs, patience, batch_size,
             min_confidence, despeckle, strip_rows, whole_image, exp, seed, phase2, front,
             verbose):
    """Classify every pixel of INPUT (an image, or a folder of one glacier's images) with CSC.

    Phase one labels tiles with the CNN MODEL; phase two trains a small per-image learner on
    that tile map and predicts every pixel strip by strip. Writes <stem>_classified.tif,
    reports (when SCLS_ labels exist), figures and <stem>_run.json to OUT_DIR; folders add
    summary.csv and go on after a failed image."""
    if verbose:
        level = max(logging.DEBUG, logging.INFO - 10 * (verbose - 1))
        logging.getLogger().setLevel(level)
        logging.getLogger("csc").setLevel(level)
    from CSC_Application.run import ClassifyOptions, classify_path

    options = ClassifyOptions(
        patch_size=patch_size, samples_per_class=samples_per_class, epochs=epochs,
        patience=patience, batch_size=batch_size, min_confidence=min_confidence,
        despeckle=despeckle, strip_rows=strip_rows, whole_image=whole_image, exp=exp, seed=seed,
        phase2=phase2, front=front)
    frame = classify_path(input, model, out_dir, options, progress=True)
    echo_table(frame.drop(columns=["error"]) if (frame["error"] == "").all() else frame)
    failed = int((frame["status"] != "ok").sum())
    click.echo(f"{len(frame) - failed} image(s) classified, {failed} failed; outputs in "
               f"{out_dir}")


@cli.command()
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
    csv_path, png_path = write_summary(frame, out)
    echo_table(headline(frame))
    click.echo(f"wrote {csv_path} and {png_path}")


# --- calving front and baselines ------------------------------------------------------------
# (csc front, csc baseline)

@cli.command("front")
@click.argument("class_raster", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Output folder.")
@click.option("--edge", "edge_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Manual front raster (default: EDGE_<stem> beside CLASS_RASTER, if any).")
@click.option("--margins", "margins_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Manual valley-margin raster (default: VM_<stem> beside it).")
@classes_option
@click.option("--stem", default=None,
              help="Scene name for the outputs (default: CLASS_RASTER's name without "
                   "_classified).")
@click.option("--min-ocean-km2", type=float, default=1.0, show_default=True,
              help="Smallest ocean region kept, in km² (georeferenced rasters).")
@click.option("--min-ocean-pixels", type=int, default=None,
              help="Smallest ocean region kept, in pixels (overrides --min-ocean-km2; used for "
                   "rasters without georeferencing, default 10000).")
@click.option("--iterations", type=int, default=30, show_default=True,
              help="Active-contour iterations (0: no refinement).")
@click.option("--smoothing", type=int, default=1, show_default=True,
              help="Active-contour smoothing steps per iteration.")
@click.option("--balloon", type=float, default=-0.5, show_default=True,
              help="Active-contour balloon force (negative shrinks).")
@click.option("--threshold", type=float, default=0.6, show_default=True,
              help="Active-contour edge threshold.")
@click.option("--sigma", type=float, default=2.0, show_default=True,
              help="Gaussian width (pixels) of the edge image.")
@click.option("--front-buffer", type=int, default=3, show_default=True,
              help="Glacier outline within this many pixels of the ocean is front.")
@click.option("--min-margin-length", type=float, default=None,
              help="Shortest valley margin kept, in metres (default 500; pixels, default 50, "
                   "without georeferencing).")
@click.option("--no-burn", is_flag=True,
              help="Do not write <stem>_front.tif (the class map with the front burnt in).")
def front_command(class_raster, out_dir, edge_path, margins_path, schema, stem, min_ocean_km2,
                  min_ocean_pixels, iterations, smoothing, balloon, threshold, sigma,
                  front_buffer, min_margin_length, no_burn):
    """Extract the calving front from a class map and, with a manual EDGE_ raster, measure its
    error in metres (both ways: median, mean, mode, std, 90th percentile, % within 100 m).

    Writes <stem>_front.geojson, <stem>_front.json, <stem>_front.tif and, with EDGE_,
    <stem>_front_errors.csv/.png; with VM_, <stem>_margins.json."""
    from CSC_Application.front import front_file

    from csc.rasters import raster_info

    georef = raster_info(class_raster).georeferenced
    result = front_file(class_raster, out_dir=out_dir, schema=schema, edge_path=edge_path,
                        margins_path=margins_path, stem=stem, burn=not no_burn,
                        min_ocean_km2=min_ocean_km2, min_ocean_pixels=min_ocean_pixels,
                        iterations=iterations, smoothing=smoothing, balloon=balloon,
                        threshold=threshold, sigma=sigma, front_buffer=front_buffer,
                        min_margin_length_m=min_margin_length if georef else None,
                        min_margin_length_px=None if georef else min_margin_length)
    if not result["front_found"]:
        click.echo(f"{result['stem']}: no calving front: {result['reason']}")
    else:
        length = (f"{result['length_m']:.0f} m" if result["length_m"] is not None
                  else f"{result['length_px']:.0f} px")
        line = f"{result['stem']}: front {length}"
        if result.get("median_error_m") is not None:
            line += (f"; error median {result['median_error_m']:.1f} m, mean "
                     f"{result['mean_error_m']:.1f} m, {result['percent_within_100m']:.0f} % "
                     "within 100 m")
        elif result.get("median_error_px") is not None:
            line += f"; error median {result['median_error_px']:.1f} px"
        click.echo(line)
    margins = result.get("margins")
    if margins:
        if margins["margins_found"]:
            unit = "m" if margins.get("median_error_m") is not None else "px"
            click.echo(f"{result['stem']}: valley margins error median "
                       f"{margins[f'median_error_{unit}']:.1f} {unit}")
        else:
            click.echo(f"{result['stem']}: no valley margins: {margins['reason']}")
    click.echo(f"outputs in {out_dir}")


@cli.command("baseline")
@click.argument("train_dir", type=click.Path(exists=True))
@click.argument("test_dir", type=click.Path(exists=True))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Output folder.")
@click.option("--learner", type=click.Choice(["lightgbm", "rf"]), default="lightgbm",
              show_default=True, help="Pixel classifier.")
@click.option("--samples-per-class", type=click.IntRange(min=1), default=5000,
              show_default=True, help="Labelled training pixels drawn per class.")
@click.option("--window", type=int, default=5, show_default=True, callback=odd_patch_size,
              help="Odd window (pixels) of the local mean/std texture features.")
@bands_option
@scale_option
@offset_option
@click.option("--band-roles", default=None,
              help="Role of each band read, e.g. red,green,blue,nir (default for 4 bands: "
                   "B4,B3,B2,B8 = red,green,blue,nir; - for a band without a role).")
@classes_option
@seed_option
@click.option("--strip-rows", type=click.IntRange(min=1), default=None,
              help="Rows classified at a time (default: from a 256 MB budget).")
def baseline_command(train_dir, test_dir, out_dir, learner, samples_per_class, window, bands,
                     scale, offset, band_roles, schema, seed, strip_rows):
    """Supervised pixel baseline: train LightGBM or a random forest on the SCLS_ labels of the
    images in TRAIN_DIR and classify every image in TEST_DIR.

    Writes <stem>_classified.tif, BASE_<stem>_<learner>.csv and <stem>_<exp>_pixels.npz per
    labelled test image, and baseline_summary.csv."""
    from baselines.supervised import run_baseline

    summary = run_baseline(train_dir, test_dir, out_dir=out_dir, schema=schema,
                           learner=learner, samples_per_class=samples_per_class,
                           window=window, bands=bands, scale=scale, offset=offset,
                           band_roles=band_roles, seed=seed, strip_rows=strip_rows,
                           progress=True)
    echo_table(summary.drop(columns=["seconds"]))
    click.echo(f"outputs in {out_dir}")


# --- batch sweeps ---------------------------------------------------------------------------
# (csc batch)

@cli.command("batch")
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
@click.option("--samples-per-class", type=click.IntRange(min=1), default=None,
              help="Default SamplesPerClass (phase-two training samples per class).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Default Epochs.")
@click.option("--patience", type=click.IntRange(min=0), default=None, help="Default Patience.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Default BatchSize.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="Default MinConfidence (phase-one tiles below it are not used).")
@click.option("--despeckle", type=click.IntRange(min=0), default=None,
              help="Default Despeckle (majority-filter radius, 0 = off).")
@click.option("--strip-rows", type=click.IntRange(min=1), default=None,
              help="Default StripRows.")
@click.option("--whole-image/--strips", "whole_image", default=None,
              help="Default WholeImage: classify each image in one pass, or strip by strip.")
@click.option("--seed", type=int, default=None, help="Default Seed of every job.")
@click.option("--phase2", type=click.Choice(["nn", "mlp", "lightgbm", "rf"]), default=None,
              help="Default Phase2 learner.")
@click.option("--front/--no-front", default=None,
              help="Default Front: extract the calving front, or not (default: when the class "
                   "schema has ocean and glacier roles).")
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

    root = click.get_current_context().find_root()
    if not root.params.get("quiet") and not root.params.get("verbose"):
        logging.getLogger("batch").setLevel(logging.INFO)  # one line per finished job
    defaults = {name: value for name, value in options.items() if value is not None}
    summary = run_sweep(jobs, models_dir=models_dir, defaults=defaults, workers=workers,
                        scheduler=scheduler, retry_failed=retry_failed, progress=True,
                        threads_per_job=threads_per_job)
    columns = [c for c in ("Line", "Model", "PatchSize", "cnn_weighted_f1", "csc_weighted_f1",
                           "csc_glacier_f1", "front_median_error_m", "seconds", "status")
               if c in summary]
    echo_table(summary[columns])
    failed = int((summary["status"] == "failed").sum())
    click.echo(f"summary: {jobs.parent / 'sweep_summary.csv'}")
    if failed:
        click.echo(f"{failed} job(s) failed; see the Error column of {jobs}", err=True)
        sys.exit(1)
