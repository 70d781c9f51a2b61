"""`softreg numerics`: the naive-vs-stable table, thresholds, and the refusal of bad scales."""

import math
import re

import numpy as np
import pytest

from softreg.cli import main
from softreg.cli.numerics import naive_cross_entropy, table_rows


def _run(capsys, *argv):
    code = main(["numerics", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _cells(out: str, scale: str, dtype: str) -> list[str]:
    for line in out.splitlines():
        parts = line.split()
        if parts[:2] == [scale, dtype]:
            return parts[2:]
    raise AssertionError(f"no row for {scale} {dtype} in:\n{out}")


def test_table_shows_naive_failures_and_stable_values(capsys):
    with np.errstate(all="raise"):  # the table must not leak numpy warnings
        code, out, err = _run(capsys)
    assert code == 0 and err == ""
    # at scale 100 naive float32 overflows (nan) and underflows (inf); stable stays exact
    naive_top, stable_top, naive_bottom, stable_bottom = _cells(out, "100", "float32")
    assert (naive_top, naive_bottom) == ("nan", "inf")
    assert float(stable_top) > 0 and float(stable_bottom) == pytest.approx(200)
    # float64 survives scale 100 but not 1000
    assert _cells(out, "100", "float64")[2] == "200"
    assert _cells(out, "1000", "float64")[0] == "nan"
    # float16 already overflows at 50; its stable loss is computed in float32
    assert _cells(out, "50", "float16")[:2] == ["nan", "1.9287e-22"]
    assert _cells(out, "1e+38", "float32")[3] == "2e+38"
    assert "logits overflow float16" in out


def test_thresholds_are_printed(capsys):
    _, out, _ = _run(capsys, "--scales", "1")
    for name, value in [("float16", 65504.0), ("float32", 3.4028234663852886e38),
                        ("float64", 1.7976931348623157e308)]:
        assert re.search(rf"{name}: exp\(z\) = inf above log\([^)]*\) = {math.log(value):.2f}",
                         out)
    assert "= 88.72" in out and "= 709.78" in out and "= 11.09" in out


def test_custom_scales(capsys):
    code, out, _ = _run(capsys, "--scales", "2", "30")
    assert code == 0
    rows = [line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["float64"]]
    assert rows == ["2", "30"]


@pytest.mark.parametrize("scale", ["0", "-1", "inf", "nan"])
def test_bad_scales_are_refused(capsys, scale):
    code, out, err = _run(capsys, "--scales", "1", scale)
    assert code == 2 and out == ""
    assert re.fullmatch(r"softreg numerics: error: --scales must be finite numbers > 0, got "
                        r"\S+; e\.g\. --scales 1 100\n", err)


def test_naive_cross_entropy_is_right_where_nothing_overflows():
    z = np.array([1.0, 0.0, -1.0])
    assert naive_cross_entropy(z, 0) == pytest.approx(0.40760596444)
    assert math.isnan(naive_cross_entropy(np.float32(100) * z.astype(np.float32), 0))


def test_table_rows_shape():
    rows = table_rows([1.0, 1e300])
    assert len(rows) == 6 and all(len(r) == 6 for r in rows)
    assert rows[3][2] == "logits overflow float16" and rows[4][2] == "logits overflow float32"
