"""``csc labels``: QGIS polygons, points or lines burned onto an image's grid."""
import click

from csc.options import classes_option


def _priority(ctx, param, value):
    if not value:
        return None
    try:
        ids = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected class ids separated by commas (e.g. 4,1), got "
                                 f"{value!r}") from None
    if len(set(ids)) != len(ids):
        raise click.BadParameter(f"lists a class twice: {value!r}")
    return ids


@click.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.argument("vectors", type=click.Path(exists=True, dir_okay=False))
@click.option("--field", default=None,
              help="Attribute holding the class (default: 'class', else 'id'): integer class "
                   "ids, or names/codes with --map.")
@classes_option
@click.option("--map", "map_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV with a header name,id (or value,id) mapping the field's values to "
                   "class ids.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Raster to write (default: SCLS_<stem>.tif, EDGE_/VM_ with --kind, beside "
                   "IMAGE).")
@click.option("--priority", callback=_priority, default=None,
              help="Class ids, comma-separated, that win overlaps in that order (first wins); "
                   "otherwise the later feature in the file wins.")
@click.option("--all-touched", is_flag=True,
              help="Burn every pixel a feature touches, not only those whose centre it covers.")
@click.option("--point-radius", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Burn points as disks of this radius in metres (default: the one pixel "
                   "holding the point).")
@click.option("--kind", type=click.Choice(["labels", "edge", "margins"]), default="labels",
              show_default=True,
              help="labels: class polygons → SCLS_; edge / margins: lines (value 1, 1 pixel "
                   "wide; polygons by their outline) → EDGE_ / VM_.")
@click.option("--layer", default=None, help="Layer to read from a file with several layers.")
def labels(image, vectors, field, schema, map_path, out, priority, all_touched, point_radius,
           kind, layer):
    """Burn the features of VECTORS (GeoPackage, Shapefile, GeoJSON; any CRS) onto the exact
    pixel grid of IMAGE as SCLS_<stem>.tif (uint8 class ids, 0 = unlabelled, the classes'
    colour table), or as 1-pixel line rasters EDGE_/VM_<stem>.tif with --kind.

    The vectors are reprojected to the image's CRS; a pixel is labelled when its centre lies in
    a polygon (--all-touched: any pixel touched). Where features overlap the later one in the
    file wins (--priority to rank classes instead). Features outside the image are left out
    with a warning; unknown classes and an empty result are errors."""
    from csc.vectors import burn_file, read_map

    if kind != "labels":
        for name, value in (("--field", field), ("--map", map_path), ("--priority", priority)):
            if value:
                raise click.BadParameter(f"{name} applies to --kind labels only",
                                         param_hint=name)
    mapping = read_map(map_path) if map_path else None
    result = burn_file(image, vectors, out=out, kind=kind, schema=schema, field=field,
                       mapping=mapping, priority=priority, all_touched=all_touched,
                       point_radius=point_radius, layer=layer)
    click.echo(result.summary(schema))


COMMANDS = (labels,)
