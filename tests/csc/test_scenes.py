import pytest

from csc.errors import MissingLabelError, RasterReadError
from csc.scenes import find_scenes


def test_companions_are_paired_and_never_images(make_scene, tmp_path):
    make_scene("a")
    make_scene("b")
    (tmp_path / "EDGE_a.tif").write_bytes((tmp_path / "SCLS_a.tif").read_bytes())
    (tmp_path / "VM_b.png").write_bytes(b"")
    scenes = find_scenes(tmp_path)
    assert [s.stem for s in scenes] == ["a", "b"]
    assert scenes[0].labels.name == "SCLS_a.tif" and scenes[0].edge.name == "EDGE_a.tif"
    assert scenes[1].margins.name == "VM_b.png" and scenes[1].edge is None


def test_missing_labels_named(make_raster, tmp_path):
    make_raster(name="lonely.tif")
    with pytest.raises(MissingLabelError, match="lonely.tif: no label raster SCLS_lonely.tif"):
        find_scenes(tmp_path, require_labels=True)


def test_empty_folder_and_label_as_image(tmp_path, make_scene):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RasterReadError, match="folder holds no images"):
        find_scenes(tmp_path / "empty")
    make_scene("c")
    with pytest.raises(RasterReadError, match="is a label/edge/margin raster, not an image"):
        find_scenes(tmp_path / "SCLS_c.tif")
