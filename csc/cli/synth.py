"""``csc synth``: synthetic Sentinel-2 glacier scenes with their labels."""
from pathlib import Path

import click

from csc.options import seed_option
from csc.synthetic import MIN_SIZE, write_scenes


def _scene_size(ctx, param, value):
    if value < MIN_SIZE:
        raise click.BadParameter(f"scenes must be at least {MIN_SIZE} pixels square so every "
                                 f"class fits; got {value}. Use --size {MIN_SIZE} or more")
    return value


@click.command()
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
    paths = write_scenes(out, scenes=scenes, size=size, seed=seed)
    for path in paths:
        companions = ", ".join(f"{prefix}{path.name}" for prefix in ("SCLS_", "EDGE_", "VM_"))
        click.echo(f"wrote {path} ({size}x{size}, 4 bands) with {companions}")
    click.echo(f"{len(paths)} scene(s) in {out}")


COMMANDS = (synth,)
