"""Layer-list models: spec errors naming the layer's key, canonical layouts, documented initialisers, the
backends' parameters and buffers in the canonical layout, and the layer perturbations."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence import data, initializers, layouts, reference
from equivalence.compare import compare
from equivalence.perturbations import perturb, perturbations
from equivalence.spec.layers import LayerSpec, place_layers

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness

CNN = [
    {"kind": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": [3, 3], "padding": [1, 1], "bias": False},
    {"kind": "batch_norm", "num_features": 3},
    {"kind": "relu"},
    {"kind": "max_pool2d", "kernel_size": [2, 2]},
    {"kind": "flatten"},
    {"kind": "linear", "in_features": 12, "out_features": 3},
]


def cnn(**extra):
    model = {"layers": CNN, **extra.pop("model", {})}
    extra.setdefault("data", {"seed": 1, "batch_size": 3, "shape": [2, 4, 4], "distribution": "normal"})
    return tiny(model=model, loss="cross_entropy", steps=2, **extra)


# ------------------------------------------------------------------------------------------------ spec

def test_layer_list_loads_with_canonical_names(tmp_path):
    case = load(tmp_path, cnn())
    assert case.parameter_names() == ("conv0.weight", "batch_norm0.weight", "batch_norm0.bias", "linear0.weight",
                                      "linear0.bias")
    assert case.output_shape() == (3,)
    shapes = {k: v.shape for k, v in data.initial_params(case).items()}
    assert shapes["conv0.weight"] == (3, 2, 3, 3) and shapes["linear0.weight"] == (12, 3), shapes


@pytest.mark.parametrize("change, key, says", [
    (lambda layers: layers[5].update(in_features=13), "model.layers[5].in_features", ["13", "last axis"]),
    (lambda layers: layers[0].update(stride=[1, 1, 1]), "model.layers[0].stride", ["3 entries", "2 (one per"]),
    (lambda layers: layers[2].update(p=0.5), "model.layers[2].p", ["does not apply to a relu layer"]),
    (lambda layers: layers[1].pop("num_features"), "model.layers[1].num_features", ["batch_norm layer needs it"]),
    (lambda layers: layers[0].update(kind="conv3d"), "model.layers[0].kind", ["'conv3d' is not known", "conv2d"]),
    (lambda layers: layers[0].update(groups=4), "model.layers[0].groups", ["does not divide"]),
    (lambda layers: layers.insert(2, {"kind": "residual", "span": 9}), "model.layers[2].span", ["do not follow it"]),
    (lambda layers: layers.insert(0, {"kind": "residual", "span": 1}), "model.layers[0].span", ["a residual add needs"]),
])
def test_layer_errors_name_the_layer(tmp_path, change, key, says):
    doc = cnn()
    layers = [dict(layer) for layer in doc["model"]["layers"]]
    change(layers)
    doc["model"]["layers"] = layers
    spec_error(write(tmp_path, doc), key=key, says=says)


def test_sizes_and_layers_are_exclusive(tmp_path):
    spec_error(write(tmp_path, cnn(model={"sizes": [3, 2]})), key="model.sizes", says=["either sizes (the MLP shorthand) or layers"])


def test_framework_default_difference_needs_a_followed_framework(tmp_path):
    doc = cnn()
    doc["model"]["layers"] = CNN[:2] + [{"kind": "instance_norm", "num_features": 3}] + CNN[2:]
    spec_error(write(tmp_path, doc), key="reference.follows", says=["model.layers[2]", "paddle or torch"])


def test_tokens_feed_an_embedding(tmp_path):
    spec_error(write(tmp_path, cnn(data={"seed": 1, "batch_size": 2, "shape": [2, 4, 4], "tokens": 5})),
               key="data.tokens", says=["feed an embedding"])


def test_padding_ids_end_each_sample(tmp_path):
    doc = tiny(model={"layers": [{"kind": "embedding", "num_embeddings": 9, "embedding_dim": 2, "padding_idx": 0},
                                 {"kind": "flatten"}, {"kind": "linear", "in_features": 12, "out_features": 2}]},
               data={"seed": 0, "batch_size": 8, "shape": [6], "tokens": 9, "pad_id": 0}, loss="cross_entropy")
    case = load(tmp_path, doc)
    (x, y), = data.batches(case)
    assert x.dtype == np.int64 and y.shape == (8,)
    for row in x:
        pads = int((row == 0)[::-1].cumprod().sum())
        assert 1 <= pads <= 3, row
    assert np.all(data.initial_params(case)["embedding0.weight"][0] == 0)


# -------------------------------------------------------------------------------------------- layouts

@pytest.mark.parametrize("framework, kind, role, shape, stored", [
    ("torch", "linear", "weight", (3, 4), (4, 3)),
    ("paddle", "linear", "weight", (3, 4), (3, 4)),
    ("paddle", "layer_norm", "weight", (2, 3), (6,)),
    ("torch", "layer_norm", "weight", (2, 3), (2, 3)),
    ("torch", "conv2d", "weight", (4, 2, 3, 3), (4, 2, 3, 3)),
    ("paddle", "conv2d_transpose", "weight", (2, 4, 3, 3), (2, 4, 3, 3)),
    ("paddle", "embedding", "weight", (5, 2), (5, 2)),
])
def test_layouts_round_trip(framework, kind, role, shape, stored):
    canonical = np.arange(float(np.prod(shape))).reshape(shape)
    native = layouts.from_canonical(framework, kind, role, canonical)
    assert native.shape == stored
    assert np.array_equal(layouts.to_canonical(framework, kind, role, native, shape), canonical)
    if framework == "torch" and kind == "linear":
        assert np.array_equal(native, canonical.T)


def test_wrong_port_accepts_only_a_square_linear():
    square = np.arange(9.0).reshape(3, 3)
    assert np.array_equal(layouts.wrong_port("torch", "linear", "weight", square), square)  # untransposed
    with pytest.raises(layouts.LayoutError, match=r"does not fit torch's \[4, 3\]"):
        layouts.wrong_port("torch", "linear", "weight", np.zeros((3, 4)))
    assert layouts.attribute("paddle", "batch_norm", "running_var") == "_variance"
    assert layouts.attribute("paddle", "instance_norm", "weight") == "scale"


# ------------------------------------------------------------------------------------ initialisers

def _layer(kind, shape, **kw):
    return place_layers((LayerSpec(kind=kind, **kw),), shape)[0]


def test_draws_of_one_initialiser_pass_and_the_other_framework_fails():
    rng = np.random.default_rng(0)
    cases = [_layer("linear", (64,), in_features=64, out_features=32),
             _layer("conv2d", (8, 5, 5), in_channels=8, out_channels=16, kernel_size=(3, 3)),
             _layer("embedding", (4,), num_embeddings=200, embedding_dim=32)]
    for layer in cases:
        for framework, other in (("paddle", "torch"), ("torch", "paddle")):
            dist = initializers.documented(framework, layer, "weight")
            z = initializers.z_scores(dist.draw(rng, layer.params["weight"]), dist)
            assert np.all(np.abs(z) < 4.5), (layer.kind, framework, z)
            wrong = initializers.documented(other, layer, "weight").draw(rng, layer.params["weight"])
            assert np.max(np.abs(initializers.z_scores(wrong, dist))) > 2 * initializers.Z_TOLERANCE, (layer.kind, other)


def test_constant_and_bounds():
    layer = _layer("linear", (4,), in_features=4, out_features=4)
    zero = initializers.documented("paddle", layer, "bias")
    assert np.array_equal(initializers.z_scores(np.zeros(4), zero), np.zeros(3))
    assert np.isinf(initializers.z_scores(np.array([0, 0, 0, 1e-9]), zero)).all()
    torch_w = initializers.documented("torch", layer, "weight")  # U(-0.5, 0.5)
    assert initializers.z_scores(np.array([[0.6, -0.1], [0.1, -0.2]]), torch_w)[2] == np.inf


# -------------------------------------------------------------------- backends (in process), perturbations

@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_backend_records_the_canonical_layout_and_matches_the_reference(tmp_path, framework):
    pytest.importorskip(framework)
    from equivalence.backends import paddle_backend, torch_backend
    backend = {"torch": torch_backend, "paddle": paddle_backend}[framework]
    flavour = {"batch_norm_running_var": "unbiased"} if framework == "torch" else \
        {"batch_norm_running_var": "biased", "norm_attributes": "float32"}  # Paddle's own flavours
    case = load(tmp_path, cnn(reference=flavour,
                              optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.5}))
    traj = backend.run(case, "optimizer")
    init = data.initial_params(case)
    for name, value in init.items():
        assert np.array_equal(traj.initial[name], value), name
    assert set(traj.steps[0]["running_var"]) == {"batch_norm0"}
    assert "model" in traj.steps[-1]["eval_output"]
    result = compare(traj, reference.run(case), case)
    assert result.equal, result.summary()


def test_layer_perturbations_are_planned_and_change_the_reference(tmp_path):
    doc = cnn(reference={"follows": "torch"})
    doc["model"]["layers"] = CNN[:2] + [{"kind": "gelu"}, {"kind": "avg_pool2d", "kernel_size": [3, 3],
                                                         "stride": [2, 2], "padding": [1, 1]},
                                        {"kind": "flatten"}, {"kind": "linear", "in_features": 12, "out_features": 3}]
    case = load(tmp_path, doc)
    planned = perturbations(case)
    for name in ("lr", "running-var-bias", "layer-epsilon", "layer-momentum", "gelu-approximation", "pool-divisor"):
        assert name in planned, planned
        assert not compare(reference.run(perturb(case, name)), reference.run(case), case).equal, name


def test_framework_default_plans_only_the_initialiser_perturbation(tmp_path):
    case = load(tmp_path, cnn(model={"init": "framework_default"}, reference={"follows": "paddle"}))
    assert perturbations(case) == ["init-other-framework"]
    ref = reference.run(case)
    assert set(ref.steps[0]["init_z"]) == set(case.parameter_names())
    assert case.tolerance.quantities["init_z"].atol == initializers.Z_TOLERANCE
    other = reference.run(perturb(case, "init-other-framework"))
    assert not compare(other, ref, case, {"init_z"}).equal


def test_a_dropout_layer_makes_the_reference_replay_masks(tmp_path):
    from equivalence.plan import uses_random_masks
    doc = cnn()
    doc["model"]["layers"] = CNN[:3] + [{"kind": "dropout", "p": 0.5}] + CNN[3:]
    case = load(tmp_path, doc)
    assert uses_random_masks(case)
    first = reference.run(case)
    mask = first.steps[0]["dropout_mask"]["dropout0"]
    assert mask.shape == (3, 3, 4, 4) and 0 < mask.mean() < 1
    flipped = first.steps[0]["dropout_mask"]["dropout0"] = 1 - mask  # replayed from a "recorded" trajectory
    replayed = reference.run(case, recorded=first)
    assert np.array_equal(replayed.steps[0]["dropout_mask"]["dropout0"], flipped)
    assert not np.array_equal(replayed.steps[0]["grad"]["conv0.weight"], reference.run(case).steps[0]["grad"]["conv0.weight"])


def test_cited_source_lines_of_the_layer_cases_exist():
    """Every 'paddle/...py:N' or 'torch/...py:N[-M]' a layer case cites is a line of the installed file."""
    import re
    import sysconfig
    from pathlib import Path

    from equivalence.runner import load_all

    site = Path(sysconfig.get_paths()["purelib"])
    cited = 0
    for case in load_all([Path(__file__).parent.parent / "cases" / "layers"]):
        for d in case.expect.divergent:
            for ref in d.references:
                for path, start, end in re.findall(r"((?:paddle|torch)/[\w/]+\.(?:py|h)):(\d+)(?:-(\d+))?", ref):
                    file = site / path
                    if not file.exists():
                        file = site / "paddle" / "include" / path.split("/", 1)[1] if path.startswith("paddle/phi") else file
                    if not file.exists():
                        pytest.skip(f"{path} is not installed here")
                    lines = file.read_text(encoding="utf-8", errors="replace").count("\n") + 1
                    assert int(end or start) <= lines, f"{case.id}: {ref} cites past the end of {path} ({lines} lines)"
                    cited += 1
    assert cited >= 20, cited


@pytest.mark.parametrize("path, line, text", [
    ("paddle/nn/layer/pooling.py", 236, "exclusive: bool = True"),
    ("torch/nn/modules/pooling.py", 766, "count_include_pad: bool = True"),
    ("torch/nn/modules/instancenorm.py", 27, "affine: bool = False"),
    ("torch/nn/modules/sparse.py", 180, "init.normal_(self.weight)"),
    ("paddle/nn/layer/conv.py", 186, "std = (2.0 / filter_elem_num) ** 0.5"),
    ("torch/nn/modules/linear.py", 124, "init.kaiming_uniform_(self.weight, a=math.sqrt(5))"),
    ("torch/nn/modules/conv.py", 196, "init.kaiming_uniform_(self.weight, a=math.sqrt(5))"),
    ("paddle/base/param_attr.py", 163, "XavierUniform()"),
    ("paddle/base/param_attr.py", 175, "Constant(0.0)"),
    ("torch/nn/modules/linear.py", 109, "torch.empty((out_features, in_features)"),
])
def test_the_layer_findings_cite_the_lines_that_say_so(path, line, text):
    import sysconfig
    from pathlib import Path
    file = Path(sysconfig.get_paths()["purelib"]) / path
    if not file.exists():
        pytest.skip(f"{path} is not installed here")
    got = file.read_text(encoding="utf-8").splitlines()[line - 1]
    assert text in got, f"{path}:{line} is {got.strip()!r}, not {text!r} (a framework upgrade moved it?)"
