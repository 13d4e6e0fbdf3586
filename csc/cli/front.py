"""``csc front``: the calving front of a class map and its error."""
import click

from csc.options import classes_option
from CSC_Application.front.settings import FRONT, FrontSettings


@click.command("front")
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
@FRONT.click_options()
@click.option("--no-burn", is_flag=True,
              help="Do not write <stem>_front.tif (the class map with the front burnt in).")
def front_command(class_raster, out_dir, edge_path, margins_path, schema, stem, no_burn,
                  **settings):
    """Extract the calving front from a class map and, with a manual EDGE_ raster, measure its
    error in metres (both ways: median, mean, mode, std, 90th percentile, % within 100 m).

    Writes <stem>_front.geojson, <stem>_front.json, <stem>_front.tif and, with EDGE_,
    <stem>_front_errors.csv/.png; with VM_, <stem>_margins.json."""
    from CSC_Application.front import describe, front_file

    result = front_file(class_raster, out_dir=out_dir, schema=schema, edge_path=edge_path,
                        margins_path=margins_path, stem=stem, burn=not no_burn,
                        settings=FrontSettings(**settings))
    click.echo(describe(result))
    click.echo(f"outputs in {out_dir}")


COMMANDS = (front_command,)
