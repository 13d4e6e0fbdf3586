"""Click options shared by several commands. Names match the batch CSV columns where both
exist (``--patch-size`` ↔ ``PatchSize``, ``--tile-size`` ↔ ``TileSize`` …)."""
import click

from csc.classes import load_schema


def _schema(ctx, param, value):
    return load_schema(value)


classes_option = click.option(
    "--classes", "schema", type=click.Path(exists=True, dir_okay=False), callback=_schema,
    default=None, help="Class-schema CSV (id,name,colour,role); default: the glacier classes.")


def _bands(ctx, param, value):
    if value is None:
        return None
    try:
        bands = tuple(int(b) for b in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give 1-based band numbers like 1,2,3,4") from None
    if any(b < 1 for b in bands):
        raise click.BadParameter(f"{value!r}: band numbers start at 1")
    return bands


bands_option = click.option("--bands", callback=_bands, default=None,
                            help="1-based bands to read, e.g. 1,2,3,4 (default: all).")

seed_option = click.option("--seed", type=int, default=0, show_default=True,
                           help="Random seed; the same seed gives the same outputs.")

def _scale(ctx, param, value):
    """A positive number, ``"percentile"`` or None."""
    if value is None or str(value).lower() == "percentile":
        return value
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a number (10000, 255) or 'percentile'",
                                 param_hint="--scale") from None
    if not number > 0:
        raise click.BadParameter(f"{value!r}: the scale must be positive", param_hint="--scale")
    return number


scale_option = click.option(
    "--scale", default=None, callback=_scale,
    help="Divide pixel values by this (10000 for Sentinel-2 L2A, 255 for 8-bit) or "
         "'percentile' for a per-band 2–98 % stretch. Default: from the data type.")

offset_option = click.option(
    "--offset", type=float, default=0.0, show_default=True,
    help="Added to pixel values before scaling (-1000 for Sentinel-2 baseline ≥ 04.00).")


def odd_patch_size(ctx, param, value):
    if value is None:
        return value
    if value < 1 or value % 2 == 0:
        raise click.BadParameter(f"patch size must be an odd number ≥ 1 (1, 3, 5, 7, 15 …), "
                                 f"got {value}")
    return value
