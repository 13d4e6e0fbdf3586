"""``csc classify``: CSC on one image or a folder of one glacier's images."""
import click

from csc.options import CLASSIFY, ClassifyOptions


@click.command()
@click.argument("input", type=click.Path(exists=True))
@click.option("--model", type=click.Path(dir_okay=False), required=True,
              help="Phase-one model (.keras) with its sidecar .json beside it.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Output folder (created if needed).")
@CLASSIFY.click_options(required=("patch_size",))
def classify(input, model, out_dir, **options):
    """Classify every pixel of INPUT (an image, or a folder of one glacier's images) with CSC.

    Phase one labels tiles with the CNN MODEL; phase two trains a small per-image learner on
    that tile map and predicts every pixel strip by strip. Writes <stem>_classified.tif,
    reports (when SCLS_ labels exist), figures and <stem>_run.json to OUT_DIR; folders add
    summary.csv and go on after a failed image (the command then exits with code 1)."""
    from CSC_Application.run import classify_path

    result = classify_path(input, model, out_dir, ClassifyOptions(**options), progress=True)
    click.echo(result.summary())
    if result.failed:
        raise SystemExit(1)


COMMANDS = (classify,)
