"""A hostile review of `each` and `scope: false` (docs/spec.md, *Names*): inputs a demanding user writes.

Each test here failed before its fix (the message it checks was wrong) or guards a probe that held."""

from __future__ import annotations

import pytest
from conftest import graph_of

from convcost.errors import SpecError

UNIT = "blocks:\n  unit:\n    layers:\n      - conv: {out: 4, kernel: 1}\n      - relu\n"  # 4→4 1×1 conv: 4*4+4 = 20 params


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as e:
        graph_of(text)
    return str(e.value)


@pytest.mark.parametrize(
    ("each", "shown"),
    [
        ("${i == 0}", "true (from '${i == 0}')"),  # a boolean, not the string the message used to show
        ("${i / 2}", "0.0 (from '${i / 2}')"),  # i=0: 0/2 = 0.0, a fraction
        ("${-1 - i}", "-1 (from '${-1 - i}')"),  # i=0: -1, negative
        ("a${i}.b", "'a0.b' (from 'a${i}.b')"),  # a dot: a name is one level
        ("a ${i}", "'a 0' (from 'a ${i}')"),  # a space
    ],
)
def test_a_bad_each_value_is_shown_as_computed(each: str, shown: str) -> None:
    text = UNIT + f"input: [4, 5, 5]\nlayers:\n  - unit: {{repeat: 2, each: '{each}'}}\n"
    msg = error_of(text)
    assert msg.startswith("t.yaml:8:29: layer name must be letters, digits, '_' or '-', got "), msg
    assert shown in msg, msg


def test_a_written_name_that_is_not_an_expression_is_shown_as_written() -> None:
    text = UNIT + "input: [4, 5, 5]\nlayers:\n  - unit: {repeat: 2, each: ''}\n"
    assert error_of(text).endswith("got string ''")
