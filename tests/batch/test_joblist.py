"""Job lists: columns, path resolution and whole-list validation (no TensorFlow needed)."""
import re

import pandas as pd
import pytest

from batch.jobs import COLUMNS, read_jobs
from csc.classes import GLACIER
from csc.errors import JobListError
from csc.modelcard import ModelCard
from csc.scaling import Scaling

HEADER = "Model,DataSource,OutFolder,ExpShortHand,Dims,PatchSize,TileSize,WholeImage,Patience,Done"


def fake_model(folder, name, *, tile_size=32, bands=(1, 2, 3, 4)):
    """A model file with its sidecar; validation reads only the sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.keras"
    path.write_bytes(b"not read by validation")
    ModelCard(tile_size=tile_size, bands=bands, scaling=Scaling.fixed(10000),
              schema=GLACIER).save(path)
    return path


@pytest.fixture
def workspace(tmp_path, make_scene):
    models = tmp_path / "models"
    fake_model(models, "vgg16_t32")
    fake_model(models, "vgg16_t50", tile_size=50, bands=(1, 2, 3))
    make_scene("a", shape=(40, 40), folder=tmp_path / "study" / "scenes")
    return tmp_path / "study", models


def write_list(folder, *rows, header=HEADER):
    path = folder / "jobs.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_rows_become_jobs_with_paths_from_the_list_folder(workspace):
    study, models = workspace
    path = write_list(study, "vgg16_t32,scenes,out/run,hh,4,3,32,1,5,0",
                      "vgg16_t50,scenes,out/run,hh,3,5,50,0,,1")
    jobs = read_jobs(path, models_dir=models)
    assert [j.out_dir for j in jobs] == [study / "out" / "run_patch3", study / "out" / "run_patch5"]
    assert jobs[0].data_source == study / "scenes"
    assert jobs[0].model_path == models / "vgg16_t32.keras"
    assert jobs[0].options == {"exp": "hh", "patch_size": 3, "whole_image": True, "patience": 5}
    assert "patience" not in jobs[1].options  # empty cell: the sweep default applies
    assert [j.done for j in jobs] == [0, 1]
    assert (jobs[1].tile_size, jobs[1].bands) == (50, 3)


def test_misspelt_export_shorthand_column_is_accepted(workspace):
    study, models = workspace
    path = write_list(study, "vgg16_t32,scenes,out/run,hh,4,1,32,1,5,0",
                      header=HEADER.replace("ExpShortHand", "EportShortHand"))
    (job,) = read_jobs(path, models_dir=models)
    assert job.exp == "hh"


def test_optional_columns_set_classify_options(workspace):
    study, models = workspace
    path = write_list(study, "vgg16_t32,scenes,out,4,3,200,2,7,lightgbm,0.5,1",
                      header="Model,DataSource,OutFolder,Dims,PatchSize,SamplesPerClass,Epochs,"
                             "Seed,Phase2,MinConfidence,GPU")
    (job,) = read_jobs(path, models_dir=models)
    assert job.options == {"patch_size": 3, "samples_per_class": 200, "epochs": 2, "seed": 7,
                           "phase2": "lightgbm", "min_confidence": 0.5}
    assert job.gpu and job.done == 0


def test_unknown_column_lists_the_valid_names(workspace):
    study, models = workspace
    path = write_list(study, "vgg16_t32,scenes,out,3,1",
                      header="Model,DataSource,OutFolder,Patchsize,Colour")
    with pytest.raises(JobListError, match=r"'Patchsize' \(did you mean 'PatchSize'\?\)") as info:
        read_jobs(path, models_dir=models)
    message = str(info.value)
    assert "'Colour'" in message
    for column in COLUMNS:
        assert column.name in message


def test_missing_required_column_is_named(workspace):
    study, models = workspace
    path = write_list(study, "vgg16_t32,scenes,3", header="Model,DataSource,PatchSize")
    with pytest.raises(JobListError, match="missing column.*OutFolder"):
        read_jobs(path, models_dir=models)


def test_every_bad_row_is_reported_together_before_anything_runs(workspace):
    from batch.runner import run_sweep

    study, models = workspace
    path = write_list(
        study,
        "vgg16_t32,scenes,out/ok,hh,4,3,32,1,5,0",        # line 2: fine
        "vgg16_t99,scenes,out/a,hh,4,3,32,1,5,0",         # line 3: unknown model
        "vgg16_t32,nowhere,out/b,hh,4,3,32,1,5,0",        # line 4: missing folder
        "vgg16_t32,scenes,out/c,hh,4,4,32,1,5,0",         # line 5: even patch size
        "vgg16_t32,scenes,out/d,hh,4,3,50,1,5,0",         # line 6: tile size mismatch
        "vgg16_t32,scenes,out/e,hh,3,3,32,1,5,0",         # line 7: bands mismatch
        "vgg16_t32,scenes,out/f,hh,4,3,32,1,ten,0",       # line 8: non-numeric
        "vgg16_t32,scenes,out/ok,hh,4,3,32,1,5,0",        # line 9: same output as line 2
    )
    before = path.read_text()
    expected = [r"line 3, Model 'vgg16_t99': unknown model.*vgg16_t32, vgg16_t50",
                r"line 4, DataSource 'nowhere': no such folder",
                r"line 5, PatchSize '4': must be an odd whole number ≥ 1 \(1, 3, 5, 7, 15 …\)",
                r"line 6, TileSize '50': model vgg16_t32 was trained on 32-pixel tiles",
                r"line 7, Dims '3': model vgg16_t32 reads 4 bands",
                r"line 8, Patience 'ten': must be a whole number, got 'ten'",
                r"line 9, OutFolder 'out/ok': writes to .*ok_patch3, like line 2"]
    with pytest.raises(JobListError, match="7 problem.*nothing was run") as info:
        run_sweep(path, models_dir=models, progress=False)
    message = str(info.value)
    for pattern in expected:
        assert re.search(pattern, message), pattern
    assert "line 2," not in message
    assert path.read_text() == before
    assert not (study / "out").exists()
    assert not (study / "sweep_summary.csv").exists()


def test_empty_required_cell_and_bad_done_value(workspace):
    study, models = workspace
    path = write_list(study, ",scenes,out,hh,4,3,32,1,5,2")
    with pytest.raises(JobListError, match=r"line 2, Model '': empty.*\n.*line 2, Done '2': must "
                                           r"be 0 \(to run\), 1 \(done\) or -1"):
        read_jobs(path, models_dir=models)


def test_model_without_sidecar_is_reported(workspace):
    study, models = workspace
    (models / "bare.keras").write_bytes(b"x")
    path = write_list(study, "bare,scenes,out,hh,4,3,32,1,5,0")
    with pytest.raises(JobListError, match=r"line 2, Model 'bare': .*no sidecar bare\.json"):
        read_jobs(path, models_dir=models)


def test_missing_models_folder_and_empty_list(workspace, tmp_path):
    study, models = workspace
    path = write_list(study)
    with pytest.raises(JobListError, match="no rows"):
        read_jobs(path, models_dir=models)
    with pytest.raises(JobListError, match="models folder .* does not exist.*--models-dir"):
        read_jobs(path, models_dir=tmp_path / "nope")


def test_example_job_list_names_only_valid_columns():
    from pathlib import Path

    import batch
    from batch.jobs import COLUMN_BY_NAME, canonical_name

    example = Path(batch.__file__).parent / "examples" / "jobs.csv"
    table = pd.read_csv(example, dtype=str, keep_default_na=False)
    assert {canonical_name(c) for c in table.columns} <= set(COLUMN_BY_NAME)
    assert sorted(set(table["PatchSize"].astype(int))) == [1, 3, 5, 7, 15]
    assert (table["Done"] == "0").all()


def test_line_numbers_count_blank_lines(workspace):
    study, models = workspace
    path = study / "jobs.csv"
    path.write_text(HEADER + "\nvgg16_t32,scenes,out/a,hh,4,3,32,1,5,0\n\n"
                             "vgg16_t32,scenes,out/b,hh,4,9.5,32,1,5,0\n")
    with pytest.raises(JobListError, match=r"line 4, PatchSize '9\.5': must be an odd whole number"):
        read_jobs(path, models_dir=models)


def test_row_with_too_many_cells_is_a_job_list_error(workspace):
    study, models = workspace
    path = write_list(study, "vgg16_t32,scenes,out/a,hh,4,3,32,1,5,0,extra,cells")
    with pytest.raises(JobListError, match="line 2 has 12 cells but the header names 10 columns"):
        read_jobs(path, models_dir=models)


def test_non_utf8_job_list_is_a_job_list_error(workspace):
    study, models = workspace
    path = study / "jobs.csv"
    path.write_bytes(HEADER.encode() + "\nvgg16_t32,scènes,out,hh,4,3,32,1,5,0\n".encode("latin-1"))
    with pytest.raises(JobListError, match="not a readable CSV job list.*UTF-8"):
        read_jobs(path, models_dir=models)


def test_a_job_list_being_run_by_another_sweep_is_refused(workspace):
    import os
    import signal
    import subprocess
    import sys
    import time

    from batch.runner import sweep_lock

    study, models = workspace
    path = write_list(study, "vgg16_t32,scenes,out,hh,4,3,32,1,5,0")
    lock = study / ".jobs.csv.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_CREAT | os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(JobListError, match=r"being run by another sweep.*wait for that"):
            with sweep_lock(path):
                pass
        assert not (study / "out_patch3").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel released the dead holder's lock: the file it left is simply taken over
    assert lock.exists()
    start = time.perf_counter()
    with sweep_lock(path) as held:
        assert held == lock and lock.read_text() == f"{os.getpid()}\n"
    assert not lock.exists() and time.perf_counter() - start < 5


def test_a_lock_file_naming_a_live_process_without_the_lock_is_taken_over(workspace):
    import os

    from batch.runner import sweep_lock

    study, _ = workspace
    path = write_list(study, "vgg16_t32,scenes,out,hh,4,3,32,1,5,0")
    lock = study / ".jobs.csv.lock"
    lock.write_text(f"{os.getppid()}\n")  # a live PID (or a reused one) that holds no lock
    with sweep_lock(path):
        assert lock.read_text() == f"{os.getpid()}\n"
    assert not lock.exists()


def test_phase_two_feature_options_are_checked_before_anything_runs(workspace):
    study, models = workspace
    path = write_list(study, 'vgg16_t32,scenes,a,1,1,1,"red,green,blue"',
                      "vgg16_t32,scenes,b,3,1,0,",
                      header="Model,DataSource,OutFolder,PatchSize,Dense,Illumination,BandRoles")
    with pytest.raises(JobListError, match="2 problem") as info:
        read_jobs(path, models_dir=models)
    message = str(info.value)
    assert "line 2, Illumination" in message and "drop --dense or --illumination" in message
    assert "line 2, BandRoles" in message and "names 3 band(s) but the model reads 4" in message
    assert "line 3" not in message


def test_local_prior_column(workspace):
    study, models = workspace
    path = write_list(study, "vgg16_t32,scenes,a,1,0,0.25", "vgg16_t32,scenes,b,3,1,0.5",
                      header="Model,DataSource,OutFolder,PatchSize,Dense,LocalPrior")
    with pytest.raises(JobListError, match="1 problem") as info:
        read_jobs(path, models_dir=models)
    assert "line 3, LocalPrior" in str(info.value) and "drop --dense" in str(info.value)
    path = write_list(study, "vgg16_t32,scenes,a,1,0,0.25",
                      header="Model,DataSource,OutFolder,PatchSize,Dense,LocalPrior")
    (job,) = read_jobs(path, models_dir=models)
    assert job.options["local_prior"] == 0.25
