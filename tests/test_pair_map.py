"""Model pairs without frameworks: the name map, the case file, the attribution of a divergence."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence.compare import Comparison, Mismatch
from equivalence.pair.attribution import attribute
from equivalence.pair.namemap import Entry, MapError, build_map
from equivalence.pair.spec import load_pair_case
from equivalence.pair.steps import read_step, write_step
from equivalence.pair.streamed import compare_records, merge_step
from equivalence.spec import SpecError

pytestmark = pytest.mark.harness


def _e(name, shape, role=None, kind="linear"):
    return Entry(name, name, kind, role or name.rpartition(".")[2], tuple(shape))


def test_names_and_shapes_match_automatically():
    paddle = [_e("fc.weight", (4, 3)), _e("fc.bias", (3,)), _e("bn.running_mean", (3,), kind="batch_norm")]
    torch = [_e("fc.weight", (4, 3)), _e("fc.bias", (3,)), _e("bn.running_mean", (3,), kind="batch_norm")]
    assert build_map(paddle, torch, {}) == {n.name: n.name for n in paddle}


def test_unique_role_and_shape_match_other_names():
    paddle = [_e("linear_0.weight", (4, 3)), _e("linear_0.bias", (3,))]
    torch = [_e("0.weight", (4, 3)), _e("0.bias", (3,))]
    assert build_map(paddle, torch, {}) == {"linear_0.weight": "0.weight", "linear_0.bias": "0.bias"}


def test_same_shapes_under_other_names_are_ambiguous():
    paddle = [_e("left.weight", (4, 4)), _e("right.weight", (4, 4))]
    torch = [_e("0.weight", (4, 4)), _e("1.weight", (4, 4))]
    with pytest.raises(MapError, match=r"ambiguous shape match for paddle left.weight \[4, 4\].*0.weight \[4, 4\], "
                                       r"1.weight \[4, 4\]"):
        build_map(paddle, torch, {})
    assert build_map(paddle, torch, {"left.weight": "0.weight", "right.weight": "1.weight"}) == {
        "left.weight": "0.weight", "right.weight": "1.weight"}


def test_unmatched_entries_list_both_sides():
    paddle = [_e("fc.weight", (4, 3))]
    torch = [_e("fc.weight", (4, 3)), _e("fc.bias", (3,))]
    with pytest.raises(MapError) as info:
        build_map(paddle, torch, {})
    text = str(info.value)
    assert "unmatched entries: paddle (none); torch fc.bias [3]" in text
    assert "paddle has fc.weight [4, 3]" in text and "torch has fc.weight [4, 3], fc.bias [3]" in text


def test_explicit_map_is_checked():
    paddle, torch = [_e("a.weight", (2, 2))], [_e("b.weight", (2, 3))]
    with pytest.raises(MapError, match="which the Paddle model does not have"):
        build_map(paddle, torch, {"x.weight": "b.weight"})
    with pytest.raises(MapError, match="canonical shapes differ"):
        build_map(paddle, torch, {"a.weight": "b.weight"})


def _write(tmp_path, body: str):
    path = tmp_path / "case.toml"
    path.write_text(body)
    return path


PAIR = '''id = "p"
description = "d"
loss = "cross_entropy"
[pair]
paddle = "m:build_paddle"
torch = "m:build_torch"
[pair.data]
input_shape = [4]
targets = "classes"
classes = 3
[optimizer]
name = "sgd"
lr = 0.1
'''


def test_pair_case_loads_and_errors_name_the_key(tmp_path):
    pc = load_pair_case(_write(tmp_path, PAIR))
    assert pc.id == "p" and pc.pair.torch == "m:build_torch" and pc.case.optimizer.name == "sgd"
    for old, new, key in [('paddle = "m:build_paddle"', 'paddle = "m.build_paddle"', "pair.paddle"),
                          ('targets = "classes"', 'targets = "normal"', "pair.data.targets"),
                          ("[optimizer]", "[model]\nsizes = [1, 2]\n[optimizer]", "model"),
                          ('name = "sgd"', 'name = "lbfgs"', "optimizer.name"),
                          ("[pair.data]", "[pair.data]\nbatch_size = 0", "pair.data.batch_size")]:
        with pytest.raises(SpecError) as info:
            load_pair_case(_write(tmp_path, PAIR.replace(old, new)))
        assert info.value.key == key, (old, str(info.value))


def test_step_files_round_trip_and_streamed_comparison(tmp_path):
    record = {"loss": {"-": np.array(1.5)}, "param": {"w": np.arange(6.0).reshape(2, 3)}}
    write_step(tmp_path, "torch", 1, record)
    back = read_step(tmp_path, "torch", 1)
    assert back["param"]["w"].tolist() == record["param"]["w"].tolist()
    total = Comparison()
    other = {"loss": {"-": np.array(1.5)}, "param": {"w": np.arange(6.0).reshape(2, 3) + [[0, 0, 0], [0, 1, 0]]}}
    merge_step(total, compare_records(back, back, _case(tmp_path)), 1)
    merge_step(total, compare_records(other, back, _case(tmp_path)), 2)
    assert total.mismatches == 1 and total.first.step == 2 and total.first.index == (1, 1)


def _case(tmp_path):
    return load_pair_case(_write(tmp_path, PAIR)).case


def _divergence(quantity, name="fc.weight", step=2):
    c = Comparison(mismatches=1, compared=10)
    c.first = Mismatch(step, quantity, name, (0,), 1.0, 2.0)
    return c


def test_attribution_names_the_part():
    equal = {"paddle": Comparison(compared=4), "torch": Comparison(compared=4)}
    assert "gradients part" in attribute(_divergence("grad"), equal)
    assert "optimizer settings" in attribute(_divergence("hyper.epsilon", "-"), equal)
    assert "buffer update" in attribute(_divergence("running_mean", "bn"), equal)
    assert "initial weights differ" in attribute(_divergence("param", step=0), equal)
    failing = dict(equal, paddle=_divergence("update"))
    text = attribute(_divergence("update"), failing)
    assert "update part" in text and "does not reproduce paddle" in text
    assert "amplifies gradient differences" in attribute(_divergence("update"), equal)
