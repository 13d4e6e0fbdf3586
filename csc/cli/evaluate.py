"""``csc evaluate``: tile-level scores of a phase-one model."""
import click

from csc.cli.output import echo_table
from csc.options import FiniteFloatRange


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("images", type=click.Path(exists=True))
@click.option("--stride", type=click.IntRange(min=1), default=None,
              help="Pixels between tiles (default: the tile size, no overlap).")
@click.option("--purity", type=FiniteFloatRange(0, 1), default=0.95, show_default=True)
@click.option("--max-unlabelled", type=FiniteFloatRange(0, 1), default=0.10, show_default=True)
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


COMMANDS = (evaluate,)
