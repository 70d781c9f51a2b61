"""softreg.d2l.common: the chapter's small helpers with no framework inside."""

import pytest

from softreg.d2l.common import Accumulator


def test_accumulator_sums_each_quantity():
    acc = Accumulator(3)
    acc.add(1, 2.5, 3)
    acc.add(1, 0.5, 7)
    assert [acc[0], acc[1], acc[2]] == [2.0, 3.0, 10.0]
    acc.reset()
    assert acc.data == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("values", [(1.0, 2.0), (1.0, 2.0, 3.0, 4.0)])
def test_accumulator_refuses_the_wrong_number_of_values(values):
    acc = Accumulator(3)
    with pytest.raises(ValueError, match=rf"Accumulator.add expects 3 values, one per running "
                       rf"sum of Accumulator\(3\), got {len(values)}: "):
        acc.add(*values)
    assert acc.data == [0.0, 0.0, 0.0]
