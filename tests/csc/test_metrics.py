import numpy as np
import pytest

from csc.classes import GLACIER
from csc.metrics import class_report, confusion, summary_scores


def test_report_on_known_answer_ignores_unlabelled_and_nodata():
    truth = np.array([[1, 1, 1, 1], [4, 4, 4, 0]])
    pred = np.array([[1, 1, 4, 1], [4, 4, 4, 7]])
    valid = np.array([[True, True, True, False], [True, True, True, True]])
    report = class_report(truth, pred, schema=GLACIER, valid=valid)
    assert list(report.columns) == ["Class", "Precision", "Recall", "F1_score", "Support"]
    assert report["Class"].tolist() == ["open water", "glacier ice", "accuracy", "macro avg",
                                        "weighted avg"]
    by = report.set_index("Class")
    # water: 2 of 3 found, precision 1; ice: 3 of 3, precision 3/4
    assert by.loc["open water", "Recall"] == pytest.approx(2 / 3)
    assert by.loc["glacier ice", "Precision"] == pytest.approx(0.75)
    assert by.loc["accuracy", "F1_score"] == pytest.approx(5 / 6)
    f1_w, f1_i = 0.8, 2 * 0.75 / 1.75
    assert summary_scores(report)["weighted_f1"] == pytest.approx((3 * f1_w + 3 * f1_i) / 6)
    assert int(by.loc["open water", "Support"]) == 3


def test_unlabelled_prediction_counts_as_wrong():
    report = class_report(np.array([1, 1]), np.array([1, 0]), schema=GLACIER)
    assert report.set_index("Class").loc["accuracy", "F1_score"] == 0.5


def test_confusion_rows_are_truth():
    m = confusion(np.array([1, 1, 2]), np.array([1, 2, 2]), schema=GLACIER)
    assert m.shape == (7, 7) and m[0, 0] == 1 and m[0, 1] == 1 and m[1, 1] == 1


def test_calibration_error_of_a_known_map():
    from csc.metrics import calibration

    truth = np.array([[1, 1, 1, 1], [2, 2, 2, 2], [0, 0, 0, 0]], dtype=np.uint8)
    pred = np.array([[1, 1, 1, 2], [2, 2, 1, 1], [1, 1, 1, 1]], dtype=np.uint8)
    conf = np.array([[90, 90, 90, 90], [40, 40, 40, 40], [10, 10, 10, 10]], dtype=np.uint8)
    result = calibration(truth, pred, conf)
    # row 1: 3 of 4 right at 0.9 confidence; row 2: 2 of 4 right at 0.4; row 3 unlabelled
    assert result["pixels"] == 8
    assert result["ece"] == pytest.approx((4 * 0.15 + 4 * 0.10) / 8)
    by = {round(b["confidence"], 2): b for b in result["bins"] if b["pixels"]}
    assert by[0.9]["accuracy"] == 0.75 and by[0.4]["accuracy"] == 0.5
    perfect = calibration(truth, truth, np.full(truth.shape, 100, np.uint8))
    assert perfect["ece"] == 0.0 and perfect["bins"][-1]["pixels"] == 8
