"""``csc train`` and ``csc finetune``: the phase-one VGG16."""
import click

from csc.cli.output import keras_verbosity
from csc.options import FiniteFloatRange
from csc.options import seed_option


def _training_options(*, lr, epochs):
    def decorate(f):
        for option in reversed([
            click.option("--epochs", type=click.IntRange(min=1), default=epochs,
                         show_default=True, help="Most epochs to run."),
            click.option("--batch-size", type=click.IntRange(min=1), default=32,
                         show_default=True, help="Tiles per batch."),
            click.option("--target-accuracy", type=FiniteFloatRange(0, 1, min_open=True),
                         default=0.985,
                         show_default=True,
                         help="Stop once the validation accuracy reaches this."),
            click.option("--patience", type=click.IntRange(min=1), default=5,
                         show_default=True,
                         help="Epochs without a better validation accuracy before stopping "
                              "(the best weights are kept)."),
            click.option("--lr", "learning_rate",
                         type=FiniteFloatRange(0, 1, min_open=True), default=lr,
                         show_default=True, help="Adam learning rate (> 0 and ≤ 1)."),
            seed_option,
        ]):
            f = option(f)
        return f
    return decorate


@click.command()
@click.argument("tiles_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("model", type=click.Path(dir_okay=False))
@_training_options(lr=1e-4, epochs=20)
@click.option("--width", type=FiniteFloatRange(min=0, min_open=True), default=1.0,
              show_default=True,
              help="Scale every VGG16 filter count (0.25 or 0.0625 train on a CPU).")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Local VGG16 'notop' ImageNet weights (.h5) to start from (width 1.0 only).")
def train(tiles_dir, model, epochs, batch_size, target_accuracy, patience, learning_rate, seed,
          width, weights):
    """Train the VGG16 tile classifier on a tile set; save MODEL (.keras) and its sidecar,
    history and validation report beside it."""
    from Phase_1_CNN.training import train as train_model

    result = train_model(tiles_dir, model, epochs=epochs, batch_size=batch_size,
                         target_accuracy=target_accuracy, patience=patience, width=width,
                         weights=weights, learning_rate=learning_rate, seed=seed,
                         verbose=keras_verbosity())
    click.echo(result.summary())


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("tiles_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@_training_options(lr=1e-5, epochs=10)
def finetune(model, tiles_dir, out, epochs, batch_size, target_accuracy, patience,
             learning_rate, seed):
    """Continue training MODEL on new tiles (same tile size, bands, scaling and classes) and
    save it as OUT with its sidecar (training runs appended)."""
    from Phase_1_CNN.training import finetune as finetune_model

    result = finetune_model(model, tiles_dir, out, learning_rate=learning_rate, epochs=epochs,
                            batch_size=batch_size, target_accuracy=target_accuracy,
                            patience=patience, seed=seed, verbose=keras_verbosity())
    click.echo(result.summary())


COMMANDS = (train, finetune)
