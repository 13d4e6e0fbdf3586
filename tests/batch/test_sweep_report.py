"""The sweep summary of jobs that have not run, failed or lost their outputs (no TensorFlow)."""
import math

from batch.jobs import read_jobs
from batch.report import F1_PLOT, RUNTIME_PLOT, SUMMARY_NAME, write_sweep_report
from csc.classes import GLACIER
from csc.modelcard import ModelCard
from csc.scaling import Scaling


def test_summary_lists_every_job_with_its_status_and_options(tmp_path, make_scene):
    models = tmp_path / "models"
    models.mkdir()
    (models / "vgg16_t50.keras").write_bytes(b"not read")
    ModelCard(tile_size=50, bands=(1, 2, 3, 4), scaling=Scaling.fixed(10000),
              schema=GLACIER).save(models / "vgg16_t50.keras")
    make_scene("a", shape=(40, 40), folder=tmp_path / "scenes")
    jobs_csv = tmp_path / "jobs.csv"
    jobs_csv.write_text("Model,DataSource,OutFolder,ExpShortHand,PatchSize,Epochs,Done\n"
                        "vgg16_t50,scenes,out/a,hh,1,,0\n"
                        "vgg16_t50,scenes,out/b,hh,3,5,-1\n"
                        "vgg16_t50,scenes,out/c,hh,5,,1\n")
    jobs = read_jobs(jobs_csv, models_dir=models)

    summary = write_sweep_report(jobs_csv, jobs, done={j.row: j.done for j in jobs},
                                 defaults={"epochs": 7, "samples_per_class": 300},
                                 errors={1: "BandError: bands"})

    assert list(summary["Line"]) == [2, 3, 4]
    assert list(summary["status"]) == ["pending", "failed", "missing"]
    assert list(summary["error"][:2]) == ["", "BandError: bands"]
    assert "set Done to 0" in summary["error"][2]
    assert list(summary["Epochs"]) == [7, 5, 7]            # a column overrides the default
    assert set(summary["SamplesPerClass"]) == {300}
    assert list(summary["experiment"]) == ["hh_k1", "hh_k3", "hh_k5"]
    assert all(math.isnan(v) for v in summary["csc_weighted_f1"])
    assert (tmp_path / SUMMARY_NAME).exists()
    for plot in (F1_PLOT, RUNTIME_PLOT):
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG"
