"""What the commands print: aligned tables and Keras's progress style."""
import sys

import click


def echo_table(frame):
    """Print a DataFrame as an aligned table."""
    click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def keras_verbosity():
    """A live progress bar on a terminal, one line per epoch in a log file."""
    return 1 if sys.stdout.isatty() else 2
