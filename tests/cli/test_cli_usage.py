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
         "'evaluate', 'predict', 'explain', 'export', 'data', 'numerics', 'sweep', 'study', "
         "'lr-find') (see softreg --help)"),
        (["explain"],
         "softreg explain: error: the following arguments are required: RUN "
         "(see softreg explain --help)"),
    ],
)
def test_usage_error_is_one_line_and_exit_2(capsys, argv, line):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == line + "\n"


# What must stay unimported by `import softreg` and `softreg --help` (STYLE: import nothing
# you don't need): every framework, matplotlib, and the optional helpers.
HEAVY = ("torch", "tensorflow", "keras", "mxnet", "matplotlib", "pooch", "tqdm", "safetensors",
         "PIL", "onnx", "onnxruntime", "tensorboard", "ray", "sklearn", "scipy")


def test_import_and_help_load_no_framework_and_no_plotting():
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "import softreg\n"
        "from softreg.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for argv in (['--help'], ['train', '--help'], ['sweep', '--help'], "
        "['export', '--help']):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit as exc:\n"
        "            assert exc.code == 0, exc.code\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
