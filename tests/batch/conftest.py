"""Sweep fixtures: a tiny study shared by the sweep tests (data helpers live in
``sweep_data``)."""
import pytest
from sweep_data import MODEL, train_model, write_scenes


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """(models folder, scenes folder, three-band scenes folder) shared by the sweep tests."""
    root = tmp_path_factory.mktemp("study")
    scenes = write_scenes(root / "scenes")
    models = root / "models"
    models.mkdir()
    train_model(models / f"{MODEL}.keras", scenes)
    rgb = write_scenes(root / "rgb_scenes", seeds=(0,), bands=3)
    return models, scenes, rgb
