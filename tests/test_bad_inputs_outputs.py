"""Bad inputs about outputs: an output folder that is an input (or holds one), an OutFolder
that is a file, a folder holding only the outputs of earlier runs — each refused with one line
before anything is written, and every file that existed before byte-identical."""
import shutil

import pytest

from bad_inputs import bad_inputs_template, workspace_fixture  # noqa: F401
from bad_inputs import Case, check


def job_list(out_folder, data_source="{scenes}", *, extra=None):
    """A setup writing ``jobs.csv`` with one job (paths may name workspace entries), after
    ``extra`` (callable(Workspace)) prepared the folders."""
    def setup(ws):
        if extra is not None:
            extra(ws)
        names = {"scenes": ws["scenes"], "root": str(ws.root)}
        ws.path("jobs.csv").write_text(
            "Model,DataSource,OutFolder,PatchSize\n"
            f"m,{data_source.format(**names)},{out_folder.format(**names)},1\n")
    return setup


def file_at(name):
    def setup(ws):
        ws.path(name).write_text("a file of the user's, not a folder\n")
    return setup


def copy_into(src, dst):
    def setup(ws):
        shutil.copytree(ws.path(src), ws.path(dst))
    return setup


BATCH = ("batch", "{root}/jobs.csv", "--models-dir", "{models}")

CASES = [
    Case("tiles-out-is-the-image-folder", ("tiles", "{scenes}", "{scenes}"),
         r"OUT_DIR .*scenes is the folder of the images"),
    Case("tiles-out-holds-the-image-folder", ("tiles", "{scenes}", "{root}"),
         r"is the folder of the images .*scenes \(or holds it\)"),
    Case("tiles-out-is-the-folder-of-one-image", ("tiles", "{image}", "{scenes}"),
         r"is the folder of the images .*a\.tif"),
    Case("tiles-from-outputs-only", ("tiles", "{results}", "{out}"),
         r"results: folder holds no images .*only \d+ output\(s\) of earlier runs"),
    Case("baseline-test-folder-of-outputs", ("baseline", "{scenes}", "{results}", "--out",
                                             "{out}"),
         r"results: folder holds no images .*output\(s\) of earlier runs"),
    Case("train-model-inside-the-tile-set", ("train", "{tiles}", "{tiles}/m.keras", "--width",
                                             "0.0625"), r"m\.keras is inside the tile set"),
    Case("train-model-named-tiles-inside-the-tile-set",
         ("train", "{tiles}", "{tiles}/sub/tiles.keras"), r"tiles\.keras is inside the tile set"),
    Case("finetune-out-inside-the-tile-set", ("finetune", "{model}", "{tiles}",
                                              "{tiles}/m2.keras"),
         r"m2\.keras is inside the tile set"),
    Case("batch-outfolder-is-a-file", BATCH, r"line 2, OutFolder .*res_patch1 exists and is a "
                                             r"file", setup=job_list("{root}/res",
                                                                     extra=file_at("res_patch1"))),
    Case("batch-outfolder-holds-the-data-source", BATCH,
         r"line 2, OutFolder .*holds the job's DataSource",
         setup=job_list("{root}/res", "{root}/res_patch1/scenes",
                        extra=copy_into("scenes", "res_patch1/scenes"))),
    Case("batch-outfolder-is-the-data-source", BATCH,
         r"line 2, OutFolder .*holds the job's DataSource",
         setup=job_list("{root}/res", "{root}/res_patch1",
                        extra=copy_into("scenes", "res_patch1"))),
    Case("batch-outfolder-holds-the-model", ("batch", "{root}/jobs.csv", "--models-dir",
                                             "{root}/res_patch1/models"),
         r"line 2, OutFolder .*holds the job's model",
         setup=job_list("{root}/res", extra=copy_into("models", "res_patch1/models"))),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(workspace, case):
    check(workspace, case)
