"""``csc stack``: a multi-band composite from separate band files (Sentinel-2, Landsat)."""
from pathlib import Path

import click


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("band_files", nargs=-1, type=click.Path(path_type=Path), metavar="BAND_FILE")
@click.option("--aoi", type=click.Path(path_type=Path), default=None,
              help="Polygon layer (GeoPackage, shapefile, GeoJSON … in any CRS): crop to its "
                   "bounding box, snapped to the grid; pixels outside the polygon = nodata.")
@click.option("--resolution", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Output pixel size in metres (default: the finest band's).")
@click.option("--nodata", type=float, default=None,
              help="Output nodata value (default: the bands' own, else 0 for unsigned "
                   "integers).")
@click.option("--sentinel2", "safe_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None,
              help="Unzipped Sentinel-2 .SAFE folder: take the bands from it (each at the "
                   "finest resolution available) instead of BAND_FILEs.")
@click.option("--bands", default=None,
              help="With --sentinel2: comma-separated bands in output order "
                   "[default: B04,B03,B02,B08].")
@click.option("--strip-rows", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Output rows processed at a time (memory is bounded by one strip).")
def stack(out, band_files, aoi, resolution, nodata, safe_dir, bands, strip_rows):
    """Stack single-band rasters BAND_FILE... (in that order) into the multi-band GeoTIFF OUT.

    Sentinel-2 L2A .jp2 bands (10, 20, 60 m) or Landsat Collection 2 *_SR_B*.TIF files: every
    band is put on the finest band's grid (or on --resolution metres); bands off that grid are
    resampled with BILINEAR resampling (reflectance), bands on it are copied unchanged. Band
    descriptions are the band names (B04, SR_B4 …). All bands must share one CRS and one data
    type. OUT is tiled, deflate-compressed, in the bands' type, written strip by strip and
    atomically."""
    if safe_dir is not None and band_files:
        raise click.UsageError("give either BAND_FILE... or --sentinel2 SAFE_DIR, not both")
    if safe_dir is None and not band_files:
        raise click.UsageError("give the band files to stack, or --sentinel2 SAFE_DIR")
    if bands is not None and safe_dir is None:
        raise click.BadParameter("--bands only selects bands of --sentinel2 SAFE_DIR; list "
                                 "plain band files in the order wanted", param_hint="--bands")
    from csc.composite import SENTINEL2_BANDS, sentinel2_bands, stack_bands

    if safe_dir is not None:
        names = SENTINEL2_BANDS if bands is None else [b for b in bands.split(",") if b.strip()]
        band_files = sentinel2_bands(safe_dir, bands=names)
    result = stack_bands(band_files, out, aoi=aoi, resolution=resolution, nodata=nodata,
                         strip_rows=strip_rows)
    click.echo(result.summary())


COMMANDS = (stack,)
