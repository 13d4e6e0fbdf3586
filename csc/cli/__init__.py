"""The ``csc`` command line: one click group, one module per command (as rasterio's ``rio``).

Each command is a thin call of a library function whose result prints its own summary. The
stages are imported inside the commands, so ``csc --help`` is fast and does not load
TensorFlow. Logging is configured here, once: ``-v`` shows progress lines, ``-vv`` debug
lines and TensorFlow's own start-up messages; ``-q`` only errors."""
import logging
import os
import sys

import click

from csc import __version__
from csc.errors import CscError

log = logging.getLogger("csc")

#: The packages whose loggers speak for the project.
PROJECT_LOGGERS = ("csc", "Phase_1_CNN", "CSC_Application", "baselines", "batch")


class CscGroup(click.Group):
    """Turns a ``CscError`` into one line on stderr and exit code 2, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CscError as exc:
            click.echo(f"csc: error: {exc}", err=True)
            sys.exit(2)


#: Loggers whose progress lines a command shows at the default verbosity (``csc batch``: one
#: line per finished job).
PROGRESS_LOGGERS = {"batch": ("batch",)}


def configure_logging(verbose=0, quiet=0, command=None):
    """Log levels for ``-v``/``-q``: warnings by default (and the progress lines of
    ``command``), info with -v, debug with -vv."""
    level = max(logging.DEBUG, min(logging.WARNING - 10 * verbose + 10 * quiet,
                                   logging.CRITICAL))
    logging.basicConfig(level=max(level, logging.WARNING),
                        format="%(levelname)s %(name)s: %(message)s")
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if not verbose and not quiet:
        for name in PROGRESS_LOGGERS.get(command, ()):
            logging.getLogger(name).setLevel(logging.INFO)
    if verbose >= 2:   # TensorFlow's own start-up lines only when asked for
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    return level


@click.group(cls=CscGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="csc")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output.")
@click.pass_context
def cli(ctx, verbose, quiet):
    """CNN-Supervised Classification of glacial landscapes.

    Phase one: a VGG16 CNN labels image tiles. Phase two: a small per-image learner trained on
    those tile labels classifies every pixel."""
    configure_logging(verbose, quiet, command=ctx.invoked_subcommand)


def main(argv=None):
    cli.main(args=argv, prog_name="csc")


from csc.cli import (baseline, batch, classify, evaluate, front, summarize,  # noqa: E402
                     synth, thin, tiles, train)

for _module in (synth, tiles, thin, train, evaluate, classify, summarize, front, baseline,
                batch):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
