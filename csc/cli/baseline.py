"""``csc baseline``: supervised LightGBM / random-forest pixel baselines."""
import click

from csc.options import (BASELINE, bands_option, classes_option, offset_option, scale_option,
                         seed_option)


@click.command("baseline")
@click.argument("train_dir", type=click.Path(exists=True))
@click.argument("test_dir", type=click.Path(exists=True))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Output folder.")
@BASELINE.click_options(names=("learner", "samples_per_class", "window", "illumination"))
@bands_option
@scale_option
@offset_option
@click.option("--band-roles", default=None,
              help="Role of each band read, e.g. red,green,blue,nir (default for 4 bands: "
                   "B4,B3,B2,B8 = red,green,blue,nir; - for a band without a role).")
@classes_option
@seed_option
@BASELINE.click_options(names=("strip_rows", "min_area", "simplify"))
def baseline_command(train_dir, test_dir, out_dir, learner, samples_per_class, window,
                     illumination, bands, scale, offset, band_roles, schema, seed, strip_rows,
                     min_area, simplify):
    """Supervised pixel baseline: train LightGBM or a random forest on the SCLS_ labels of the
    images in TRAIN_DIR and classify every image in TEST_DIR.

    Writes <stem>_classified.tif (a Cloud-Optimized GeoTIFF), <stem>_classes.gpkg,
    <stem>_run.json, BASE_<stem>_<learner>.csv and <stem>_<exp>_pixels.npz per labelled test
    image, and baseline_summary.csv."""
    from baselines.supervised import run_baseline

    result = run_baseline(train_dir, test_dir, out_dir=out_dir, schema=schema,
                          learner=learner, samples_per_class=samples_per_class,
                          window=window, illumination=illumination, bands=bands,
                          scale=scale, offset=offset,
                          band_roles=band_roles, seed=seed, strip_rows=strip_rows,
                          min_area=min_area, simplify=simplify, progress=True)
    click.echo(result.summary())


COMMANDS = (baseline_command,)
