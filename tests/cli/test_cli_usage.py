"""Usage errors of every subcommand: one line on stderr, exit code 2, no usage block."""

import pytest

from softreg.cli import main


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["train", "--lr", "abc"],
         "softreg train: error: argument --lr: invalid float value: 'abc' "
         "(see softreg train --help)"),
        (["train", "--epochs", "1.5"],
         "softreg train: error: argument --epochs: invalid int value: '1.5' "
         "(see softreg train --help)"),
        (["train", "--no-such-flag"],
         "softreg train: error: unrecognized arguments: --no-such-flag "
         "(see softreg train --help)"),
        (["study", "overfit", "--zz"],
         "softreg study overfit: error: unrecognized arguments: --zz "
         "(see softreg study overfit --help)"),
        (["--zz"], "softreg: error: unrecognized arguments: --zz (see softreg --help)"),
        (["sweep", "--jobs", "two"],
         "softreg sweep: error: argument --jobs: invalid int value: 'two' "
         "(see softreg sweep --help)"),
        (["study", "overfit", "--epochs", "x"],
         "softreg study overfit: error: argument --epochs: invalid int value: 'x' "
         "(see softreg study overfit --help)"),
        (["study"],
         "softreg study: error: the following arguments are required: STUDY "
         "(see softreg study --help)"),
        (["evaluate"],
         "softreg evaluate: error: the following arguments are required: checkpoint "
         "(see softreg evaluate --help)"),
        (["bogus"],
         "softreg: error: argument COMMAND: invalid choice: 'bogus' (choose from 'train', "
         "'evaluate', 'predict', 'data', 'numerics', 'sweep', 'study') (see softreg --help)"),
    ],
)
def test_usage_error_is_one_line_and_exit_2(capsys, argv, line):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == line + "\n"
