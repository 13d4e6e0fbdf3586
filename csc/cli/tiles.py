"""``csc tiles``: training tiles for phase one from labelled images."""
import click

from csc.options import (FiniteFloatRange, bands_option, classes_option, offset_option,
                         scale_option, seed_option)


@click.command()
@click.argument("images_dir", type=click.Path(exists=True))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--tile-size", type=click.IntRange(min=1), default=50, show_default=True,
              help="Tile side in pixels (VGG16 needs at least 32).")
@click.option("--stride", type=click.IntRange(min=1), default=25, show_default=True,
              help="Pixels between tile origins; the last row and column are always tiled.")
@click.option("--purity", type=FiniteFloatRange(0, 1), default=0.95, show_default=True,
              help="Least share of a tile's labelled pixels in its dominant class (the mode).")
@click.option("--max-unlabelled", type=FiniteFloatRange(0, 1), default=0.10, show_default=True,
              help="Largest share of unlabelled or nodata pixels in a kept tile.")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Add the 8 rotations/flips of every training tile.")
@click.option("--noise", type=FiniteFloatRange(0, 1), default=0.02, show_default=True,
              help="Uniform noise (scaled units) added to augmented tiles, then clipped.")
@bands_option
@scale_option
@offset_option
@classes_option
@click.option("--split", type=click.Choice(["block", "image"]), default="block",
              show_default=True,
              help="Hold out spatial blocks of every image, or whole images, for validation.")
@click.option("--val-fraction", type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
              default=0.2, show_default=True,
              help="Share of the tiles (or images) held out for validation (training needs "
                   "some).")
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
    click.echo(tileset.summary())


COMMANDS = (tiles,)
