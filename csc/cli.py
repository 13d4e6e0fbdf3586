"""The ``csc`` command line: one click group, each command a thin layer over a library call.

Stages are imported inside the commands that need them, so ``csc --help`` is fast and does not
load TensorFlow."""
import functools
import logging
import sys
from pathlib import Path

import click

from csc import __version__
from csc.errors import CscError
from csc.options import (bands_option, classes_option, odd_patch_size, offset_option,
                         scale_option, seed_option)

log = logging.getLogger("csc")


class CscGroup(click.Group):
    """Turns a ``CscError`` into one line on stderr and exit code 2, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CscError as exc:
            click.echo(f"csc: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=CscGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="csc")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output.")
def cli(verbose, quiet):
    """CNN-Supervised Classification of glacial landscapes.

    Phase one: a VGG16 CNN labels image tiles. Phase two: a small per-image learner trained on
    those tile labels classifies every pixel."""
    level = logging.WARNING - 10 * verbose + 10 * quiet
    logging.basicConfig(level=max(logging.DEBUG, min(level, logging.CRITICAL)),
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("csc").setLevel(max(logging.DEBUG, min(level, logging.CRITICAL)))


def main(argv=None):
    cli.main(args=argv, prog_name="csc")


def echo_table(frame):
    """Print a DataFrame as an aligned table."""
    click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


# --- synthetic scenes -----------------------------------------------------------------------
# (csc synth)

# --- phase one ------------------------------------------------------------------------------
# (csc tiles, csc thin, csc train, csc finetune)

# --- phase two: CSC application -------------------------------------------------------------
# (csc classify, csc summarize)

# --- calving front and baselines ------------------------------------------------------------
# (csc front, csc baseline)

# --- batch sweeps ---------------------------------------------------------------------------
# (csc batch)
