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
    """Turns a ``CscError`` (bad input) into one line on stderr and exit code 2, any other
    exception into one line and exit code 1 (``-v`` shows its traceback), Ctrl-C into exit
    code 130 — never a traceback at the default verbosity."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CscError as exc:
            click.echo(f"csc: error: {' '.join(str(exc).split())}", err=True)
            sys.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            from csc.outputs import close_open_sets

            close_open_sets()
            click.echo("csc: interrupted; outputs already committed are complete, the rest "
                       "were not written", err=True)
            sys.exit(130)
        except Exception as exc:
            if ctx.params.get("verbose"):
                raise
            message = " ".join(str(exc).split()) or "no message"
            click.echo(f"csc: unexpected error ({type(exc).__name__}: {message}); run again "
                       "with -v for the traceback", err=True)
            sys.exit(1)


    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        """Usage errors (a bad option value, a missing argument) as one line too, naming the
        option and the command's help."""
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "csc"
            click.echo(f"csc: error: {' '.join(exc.format_message().split())} (see "
                       f"'{command} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.ClickException as exc:
            click.echo(f"csc: error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("csc: interrupted", err=True)
            sys.exit(130)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)


class _CurrentStderr(logging.StreamHandler):
    """A log handler writing to whatever ``sys.stderr`` is when a record is emitted (so
    progress-bar redirection and test runners see the lines)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


#: Loggers whose progress lines a command shows at the default verbosity (``csc batch``: one
#: line per finished job).
PROGRESS_LOGGERS = {"batch": ("batch",)}


def configure_logging(verbose=0, quiet=0, command=None):
    """Log levels for ``-v``/``-q``: warnings by default (and the progress lines of
    ``command``), info with -v, debug with -vv."""
    level = max(logging.DEBUG, min(logging.WARNING - 10 * verbose + 10 * quiet,
                                   logging.CRITICAL))
    root = logging.getLogger()
    if not any(isinstance(h, _CurrentStderr) for h in root.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if not verbose and not quiet:
        for name in PROGRESS_LOGGERS.get(command, ()):
            logging.getLogger(name).setLevel(logging.INFO)
    # TensorFlow's own native log lines (start-up, "NodeDef mentions attribute" …) only when
    # asked for with -vv; its errors reach the user as Python exceptions either way
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose >= 2 else "3"
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


from csc.cli import (baseline, batch, classify, evaluate, front, labels,  # noqa: E402
                     stack, summarize, synth, thin, tiles, train)

for _module in (synth, tiles, thin, train, evaluate, classify, summarize, front, baseline,
                batch, stack, labels):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
