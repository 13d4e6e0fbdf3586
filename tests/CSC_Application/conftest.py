"""Phase-two fixtures: a tiny phase-one model and fast options (data helpers live in
``phase2_data``)."""
import pytest

from phase2_data import nearest_mean_model, save_model


@pytest.fixture(scope="session")
def phase_one(tmp_path_factory):
    """Path of the tiny phase-one model (with sidecar) for the three-class schema."""
    from csc.backend import quiet_tensorflow

    quiet_tensorflow()
    path = tmp_path_factory.mktemp("model") / "phase_one.keras"
    return save_model(path, nearest_mean_model())


@pytest.fixture
def options():
    """Fast phase-two options: few samples, few epochs, small batches, no front."""
    from CSC_Application.run import ClassifyOptions

    def make(**changes):
        base = dict(patch_size=3, samples_per_class=300, epochs=3, patience=3, batch_size=32,
                    despeckle=1, front=False, seed=0)
        base.update(changes)
        return ClassifyOptions(**base)

    return make
