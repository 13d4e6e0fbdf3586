"""``csc thin``: balance the training classes of a tile set."""
import click

from csc.options import seed_option


@click.command()
@click.argument("tiles_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--max-per-class", type=click.IntRange(min=1), required=True,
              help="Keep at most this many training tiles of each class.")
@click.option("--oversample/--no-oversample", default=False, show_default=True,
              help="Repeat (in random orientations) tiles of rarer classes up to the cap.")
@seed_option
def thin(tiles_dir, max_per_class, oversample, seed):
    """Balance the training classes of a tile set in place (validation is untouched)."""
    from Phase_1_CNN.thinning import thin_tileset

    result = thin_tileset(tiles_dir, max_per_class=max_per_class, oversample=oversample,
                          seed=seed)
    click.echo(result.summary())


COMMANDS = (thin,)
