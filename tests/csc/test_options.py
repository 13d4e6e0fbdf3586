"""Options declared once: one rule, one message, at every boundary."""
import re

import click
import pytest
from click.testing import CliRunner

from batch.jobs import COLUMN_BY_NAME
from csc.errors import OptionError, PatchSizeError
from csc.options import CLASSIFY, ClassifyOptions, check_patch_size


@pytest.mark.parametrize("value", [0, 2, 4, -3, 2.5, "x", True])
def test_patch_size_rule_is_one_message(value):
    with pytest.raises(PatchSizeError, match=re.escape(
            "--patch-size must be an odd whole number ≥ 1 (1, 3, 5, 7, 15 …), got")):
        check_patch_size(value)


def test_the_same_rule_in_the_job_list_and_on_the_command_line():
    with pytest.raises(PatchSizeError, match=r"^PatchSize must be an odd whole number"):
        CLASSIFY["patch_size"].parse_cell("4")
    assert CLASSIFY["patch_size"].parse_cell("5.0") == 5

    @click.command()
    @CLASSIFY.click_options(names=("patch_size", "min_confidence"))
    def command(**options):
        click.echo(repr(options))

    result = CliRunner().invoke(command, ["--patch-size", "4"])
    assert result.exit_code == 2
    assert "Invalid value for --patch-size: must be an odd whole number ≥ 1" in result.output
    result = CliRunner().invoke(command, ["--min-confidence", "1.5"])
    assert "--min-confidence: must be between 0 and 1, got 1.5" in result.output


def test_options_object_is_validated_and_frozen():
    options = ClassifyOptions(patch_size=5, exp="trial")
    assert options.experiment == "trial_k5" and options.to_dict()["experiment"] == "trial_k5"
    with pytest.raises(Exception, match="cannot assign"):
        options.patch_size = 4
    for bad, message in [(dict(samples_per_class=0), "--samples-per-class must be ≥ 1, got 0"),
                         (dict(phase2="svm"), "--phase2 must be one of nn, mlp, lightgbm, rf"),
                         (dict(exp="a/b"), "--exp must be a plain name"),
                         (dict(whole_image="maybe"), "--whole-image must be 1 or 0"),
                         (dict(epochs=float("nan")), "--epochs must be a whole number")]:
        with pytest.raises(OptionError, match=re.escape(message)):
            ClassifyOptions(**bad)


def test_every_classify_option_is_a_job_list_column():
    columns = {c.option: name for name, c in COLUMN_BY_NAME.items() if c.option}
    assert set(columns) == set(CLASSIFY.names)
    for option in CLASSIFY:
        assert columns[option.name] == option.column
        assert COLUMN_BY_NAME[option.column].parse == option.parse_cell   # the same rule


def test_unknown_options_are_named():
    with pytest.raises(OptionError, match="unknown option.*epoch.*valid options are"):
        CLASSIFY.check({"epoch": 3})
