"""The case: its top-level keys, the loader that turns TOML into it, and the checks across tables."""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .. import dotted
from ..record import QUANTITY_ORDER, is_quantity
from .base import SpecError, _build, _doc
from .clip import ClipSpec, _validate_clip_and_lr
from .data import DataSpec
from .dropout import DROPOUT_ROUTES, DropoutSpec, _validate_dropout
from .expectations import CompareSpec, ExpectSpec, SweepSpec, Tolerance, ToleranceSpec, _validate_ranges
from . import limits
from .flavour import ReferenceFlavour
from .gradients import GradientSpec, _validate_gradients
from .loss_probe import LOSS_ROUTES, LossProbeSpec, _validate_loss_probe
from .layers import Layer, LayerError, parameter_shapes, place_layers, walk
from .model import LOSSES, ModelSpec
from .normalization import NORMALIZATION_ROUTES, NormalizationSpec, _validate_normalization
from .optimizer import OptimizerSpec, _validate_optimizer
from .regularization import Coefficients, RegularizationSpec
from .routes import (CLIP_ROUTES, EMA_ROUTES, PER_PARAMETER_ROUTES, PORT_ROUTE, TRAINING_ROUTE_NAMES, TRAINING_ROUTES,
                     clipped_route)
from .scaling import EmaSpec, LossScalingSpec, _validate_step_extensions
from .schedule import ScheduleSpec

DTYPES = ("float32", "float64")
AUTOCAST_DTYPES = ("bfloat16",)
Z_TOLERANCE = 6.0  # equivalence/initializers.py: |z_a - z_b| allowed between two draws of one initialiser
KINDS = ("training", "dropout", "normalization", "loss")


@dataclass(frozen=True)
class Case:
    id: str = field(metadata=_doc("Unique id, lowercase words joined by '-'; the test id's stem."))
    description: str = field(metadata=_doc("What the case shows, for people."))
    tags: tuple[str, ...] = field(default=(), metadata=_doc("Tags; each is also a pytest marker."))
    kind: str = field(default="training", metadata=_doc(
        "training: a model trained for some steps; dropout: one dropout layer on a large tensor; "
        "normalization: one normalization layer fed `steps` train-mode batches, then an eval batch; "
        "loss: one loss function's value and input gradient ([loss_probe]).", KINDS))
    source: tuple[str, ...] = field(default=(), metadata=_doc(
        "Where the scenario's claim comes from: a document, an API page, a framework source line."))
    requires: dict[str, str] = field(default_factory=dict, metadata=_doc(
        "Framework version ranges the case applies to, e.g. { paddle = \">=3.0\" } (PEP 440); with another "
        "installed version that framework's runs are skipped, naming the version and the range."))
    model: ModelSpec | None = field(default=None, metadata=_doc("The model (training cases)."))
    data: DataSpec | None = field(default=None, metadata=_doc("The data (training cases)."))
    loss: str = field(default="mean", metadata=_doc(
        "mean = mean of the outputs; mse against normal targets; cross_entropy against integer labels.",
        LOSSES))
    optimizer: OptimizerSpec | None = field(default=None, metadata=_doc("The optimizer (training cases)."))
    regularization: RegularizationSpec | None = field(default=None, metadata=_doc("Weight regularization."))
    dropout: DropoutSpec | None = field(default=None, metadata=_doc("The dropout layer (dropout cases)."))
    clip: ClipSpec | None = field(default=None, metadata=_doc("Gradient clipping between backward and step."))
    lr_multipliers: dict[str, float] = field(default_factory=dict, metadata=_doc(
        "Per-parameter learning rates: name or pattern -> m >= 0; the parameter trains with optimizer.lr * m "
        "(Paddle ParamAttr(learning_rate=m) or a group dict's learning_rate=m, Torch a param group with "
        "lr = optimizer.lr * m). The last matching pattern wins."))
    normalization: NormalizationSpec | None = field(default=None, metadata=_doc(
        "The normalization layer (normalization cases): `steps` train-mode batches, then one eval batch."))
    loss_probe: LossProbeSpec | None = field(default=None, metadata=_doc(
        "The loss function (loss cases): its value and the gradient of sum(loss * upstream) w.r.t. its input."))
    schedule: ScheduleSpec | None = field(default=None, metadata=_doc(
        "Learning-rate schedule (training cases); without it the lr is constant."))
    loss_scaling: LossScalingSpec | None = field(default=None, metadata=_doc(
        "Dynamic loss scaling (Paddle / Torch GradScaler); route optimizer only."))
    ema: EmaSpec | None = field(default=None, metadata=_doc(
        "Exponential moving average of the parameters, recorded as 'ema' by the routes ema_module "
        "(Torch AveragedModel, Paddle ExponentialMovingAverage) and ema_manual (the rule in framework ops)."))
    gradients: GradientSpec | None = field(default=None, metadata=_doc(
        "A gradient's lifecycle between steps: frozen parameters, parameters that stop receiving gradients, "
        "and how gradients are cleared (training cases)."))
    routes: tuple[str, ...] | None = field(default=None, metadata=_doc(
        "Routes to run in each framework; default: optimizer, plus per_parameter and loss_penalty when "
        "there is regularization, or the per-parameter routes when there are lr_multipliers, each with both "
        "clip routes when there is a [clip] table, or the ema routes with an [ema] table (training); layer and "
        "functional (dropout, normalization, loss). port (any kind): the natural port a user writes, the "
        "other framework's closest call with the argument it lacks dropped (README, Natural ports).",
        TRAINING_ROUTE_NAMES + EMA_ROUTES + DROPOUT_ROUTES + (PORT_ROUTE,)))
    steps: int = field(default=1, metadata=_doc("Optimizer steps to record, >= 1."))
    dtype: str = field(default="float64", metadata=_doc("Floating point type of params and data.", DTYPES))
    reference: ReferenceFlavour = field(default_factory=ReferenceFlavour, metadata=_doc(
        "Formula flavours of the NumPy reference."))
    tolerance: ToleranceSpec = field(default_factory=ToleranceSpec, metadata=_doc("Tolerance overrides."))
    compare: CompareSpec = field(default_factory=CompareSpec, metadata=_doc(
        "Which recorded quantities the checks compare (every one by default)."))
    expect: ExpectSpec = field(default_factory=ExpectSpec, metadata=_doc("What is expected."))
    autocast: str | None = field(default=None, metadata=_doc(
        "Run the forward pass and the loss under each framework's autocast to this dtype: "
        "paddle.amp.auto_cast(dtype=...) (a no-op with a warning on a CPU place, paddle/amp/auto_cast.py:594-601) "
        "and torch.autocast(device, dtype=...) (Linear in the lower precision, mse_loss and cross_entropy in "
        "float32). float32 cases with loss mse or cross_entropy and no dropout; reference.autocast says whose "
        "arithmetic the reference follows.", AUTOCAST_DTYPES))
    loss_weight: float = field(default=1.0, metadata=_doc(
        "Multiplies the data loss (and so every gradient of it; regularization is not scaled) in the reference "
        "and every framework alike: a gradient-scale knob, e.g. for a sweep towards tiny gradients. > 0."))
    sweep: SweepSpec | None = field(default=None, metadata=_doc(
        "Hyper-parameter ranges for python -m equivalence sweep: variants of this case whose checks must "
        "still all meet their expectations; a counter-example is shrunk towards the case as written."))
    path: str = field(default="", metadata={"internal": True})

    @property
    def selected_routes(self) -> tuple[str, ...]:
        if self.routes is not None:
            return self.routes
        if self.kind == "dropout":
            return DROPOUT_ROUTES
        if self.kind == "normalization":
            return NORMALIZATION_ROUTES
        if self.kind == "loss":
            return LOSS_ROUTES
        if self.ema is not None:
            return EMA_ROUTES
        if self.lr_multipliers:
            bases = PER_PARAMETER_ROUTES
        elif self.regularization is not None:
            bases = TRAINING_ROUTES
        else:
            bases = ("optimizer",)
        if self.clip is None:
            return bases
        return tuple(clipped_route(b, c) for b in bases for c in CLIP_ROUTES)

    def lr_multiplier_of(self) -> dict[str, float]:
        """Learning-rate multiplier per parameter (1.0 where no pattern matches)."""
        result = {}
        for name in self.parameter_names():
            result[name] = 1.0
            for pattern, m in self.lr_multipliers.items():
                if fnmatch.fnmatchcase(name, pattern):
                    result[name] = m
        return result

    def network(self) -> tuple[Layer, ...] | None:
        """The layer-list model placed on its input shape (None for the MLP shorthand); computed once."""
        if self.model is None or not self.model.layers:
            return None
        cached = self.__dict__.get("_network")
        if cached is None:
            cached = place_layers(self.model.layers, self.data.shape, self.reference.follows)
            object.__setattr__(self, "_network", cached)
        return cached

    def input_shape(self) -> tuple[int, ...]:
        """Per-sample input shape."""
        return self.data.shape if self.model.layers else (self.model.sizes[0],)

    def output_shape(self) -> tuple[int, ...]:
        """Per-sample output shape of the model."""
        network = self.network()
        return network[-1].out_shape if network else (self.model.sizes[-1],)

    def parameter_names(self) -> tuple[str, ...]:
        """Canonical parameter names, in model order: linear0.weight, linear0.bias, linear1.weight, ..."""
        if self.model is None:
            return ()
        if self.model.layers:
            return tuple(parameter_shapes(self.network()))
        names = []
        for i in range(len(self.model.sizes) - 1):
            names.append(f"linear{i}.weight")
            if self.model.bias:
                names.append(f"linear{i}.bias")
        return tuple(names)

    def overridden(self) -> tuple[str, ...]:
        """Parameters whose coefficients come from regularization.overrides."""
        reg = self.regularization
        if reg is None:
            return ()
        return tuple(n for n in self.parameter_names()
                     if any(fnmatch.fnmatchcase(n, pattern) for pattern in reg.overrides))

    def coefficients(self, ignore_overrides: bool = False) -> dict[str, Coefficients]:
        """Effective (l1, l2) per parameter: an override beats the case-wide coefficients."""
        reg = self.regularization
        result = {}
        for name in self.parameter_names():
            coeffs = Coefficients()
            if reg is not None:
                if not reg.parameters or any(fnmatch.fnmatchcase(name, p) for p in reg.parameters):
                    coeffs = Coefficients(l1=reg.l1, l2=reg.l2)
                if not ignore_overrides:
                    for pattern, override in reg.overrides.items():
                        if fnmatch.fnmatchcase(name, pattern):
                            coeffs = override
            result[name] = coeffs
        return result


# ---------------------------------------------------------------------------------------------- loading

def load_case(path: str | Path) -> Case:
    return case_from_dict(read_raw(path), path)


def read_raw(path: str | Path) -> dict:
    """A case file's TOML as a plain dict, before any checking."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SpecError(path, "", f"cannot be read ({exc})") from None
    if size > limits.MAX_FILE_BYTES:
        raise SpecError(path, "", f"{size} bytes is over the limit", f"case files of at most {limits.MAX_FILE_BYTES} bytes")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, "", f"not valid TOML ({exc})") from None
    except ValueError as exc:  # an integer of thousands of digits: Python refuses to convert it
        raise SpecError(path, "", f"not usable TOML ({exc})", f"integers between -{limits.MAX_INT} and "
                        f"{limits.MAX_INT}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise SpecError(path, "", "nested too deeply to parse",
                        f"tables and lists nested at most {limits.MAX_DEPTH} levels") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "", f"cannot be read ({exc})") from None
    depth, key = limits.deepest(raw)
    if depth > limits.MAX_DEPTH:
        raise SpecError(path, key, f"nested more than {limits.MAX_DEPTH} levels deep",
                        f"tables and lists nested at most {limits.MAX_DEPTH} levels")
    return raw


def case_from_dict(raw: dict, path: str | Path) -> Case:
    """The case a TOML document describes; ``path`` names it in errors and results."""
    case = _build(Case, raw, path, "")
    case = dataclasses.replace(case, path=str(path))
    if case.model is not None and case.model.init == "framework_default" and "init_z" not in case.tolerance.quantities:
        # z-scores of two draws of one initialiser differ by a few units (equivalence/initializers.py)
        quantities = {**case.tolerance.quantities, "init_z": Tolerance(rtol=0.0, atol=Z_TOLERANCE)}
        case = dataclasses.replace(case, tolerance=dataclasses.replace(case.tolerance, quantities=quantities))
    validate(case)
    if case.sweep is not None:
        validate_sweep(case.sweep, raw, path)
    return case


def variant(raw: dict, values: dict, path: str | Path) -> Case:
    """The case ``raw`` describes with the dotted keys in ``values`` set, loaded and validated like a file.
    A variant has no [sweep] table of its own."""
    doc = {k: copy.deepcopy(v) for k, v in raw.items() if k != "sweep"}
    for key, value in values.items():
        try:
            dotted.set_value(doc, key, value)
        except KeyError as exc:
            raise SpecError(path, key, exc.args[0], "a dotted key of this case file") from None
    return case_from_dict(doc, path)


def discover(paths: list[str | Path]) -> list[Path]:
    """Case files under the given files or folders, sorted, without duplicates."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.rglob("*.toml")))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"no case file or folder at {p}")
    unique = []
    for p in found:
        if p not in unique:
            unique.append(p)
    return unique


# ------------------------------------------------------------------------------------------- validation

def validate(case: Case) -> None:
    """Checks that need more than one key, or ranges. Raises SpecError on the first problem."""
    f = case.path

    def need(ok: bool, key: str, problem: str, accepted: str | None = None):
        if not ok:
            raise SpecError(f, key, problem, accepted)

    need(limits.is_safe_id(case.id), "id", f"{case.id!r} is not a usable id", limits.ID_ACCEPTED)
    for i, tag in enumerate(case.tags):
        need(limits.is_safe_tag(tag), f"tags[{i}]", f"{tag!r} is not a usable tag", limits.TAG_ACCEPTED)
    need(case.steps >= 1, "steps", f"{case.steps} is not a step count", "an integer >= 1")
    need(case.steps <= limits.MAX_STEPS, "steps", f"{case.steps} steps is over the limit",
         f"at most {limits.MAX_STEPS}")
    need(case.loss_weight > 0, "loss_weight", f"{case.loss_weight} is not a loss weight", "a number > 0")
    need(case.kind == "training" or case.loss_weight == 1, "loss_weight", f"a {case.kind} case has no loss",
         "loss_weight only in training cases")
    routes = {"training": TRAINING_ROUTE_NAMES + EMA_ROUTES, "dropout": DROPOUT_ROUTES,
              "loss": LOSS_ROUTES}.get(case.kind, NORMALIZATION_ROUTES) + (PORT_ROUTE,)
    for r in case.selected_routes:
        need(r in routes, "routes", f"route {r!r} does not apply to a {case.kind} case", ", ".join(routes))
    tol = case.tolerance
    need((tol.rtol is None) == (tol.atol is None), "tolerance",
         "rtol and atol are given together or not at all", "both rtol and atol")
    for q in tol.quantities:
        need(is_quantity(q), f"tolerance.quantities.{q}", "is not a recorded quantity", ", ".join(QUANTITY_ORDER))
    for key in ("quantities", "exclude"):
        for pattern in getattr(case.compare, key):
            need(is_quantity(pattern) or any(fnmatch.fnmatchcase(q, pattern) for q in QUANTITY_ORDER),
                 f"compare.{key}", f"{pattern!r} matches no recorded quantity",
                 "names or patterns of " + ", ".join(QUANTITY_ORDER))
    for key, t in [("tolerance", tol)] + [(f"tolerance.quantities.{q}", v) for q, v in tol.quantities.items()]:
        for name in ("rtol", "atol"):
            v = getattr(t, name)
            need(v is None or v >= 0, f"{key}.{name}", f"{v} is negative", "a number >= 0")
    for i, d in enumerate(case.expect.divergent):
        key = f"expect.divergent[{i}]"
        need(bool(d.implementations), f"{key}.implementations", "is empty", "at least one implementation id")
        need(bool(d.reason.strip()), f"{key}.reason", "is empty", "a sentence saying why")
        need(bool(d.references), f"{key}.references", "is empty",
             "at least one 'framework/file.py:line' or URL")
        _validate_ranges(f, f"{key}.versions", d.versions)
    _validate_ranges(f, "requires", case.requires)
    _validate_bounds(case, need)
    need(case.autocast is None or case.kind == "training", "autocast", f"a {case.kind} case has no model to autocast",
         "autocast only in training cases")
    need(case.reference.autocast == "off" or case.autocast == case.reference.autocast, "reference.autocast",
         f"the reference follows {case.reference.autocast} autocast and the case runs with autocast = "
         f"{case.autocast!r}", f"autocast = {case.reference.autocast!r}, or reference.autocast = 'off'")

    if case.kind == "dropout":
        _validate_dropout(case, need)
        return
    if case.kind == "normalization":
        _validate_normalization(case, need)
        return
    if case.kind == "loss":
        _validate_loss_probe(case, need)
        return

    for key in ("model", "data", "optimizer"):
        need(getattr(case, key) is not None, key, f"a training case needs a [{key}] table", f"[{key}]")
    need(case.dropout is None, "dropout", "a training case puts dropout in model.dropout", "model.dropout")
    need(case.normalization is None, "normalization", "does not apply to a training case", "kind = 'normalization'")
    need(case.loss_probe is None, "loss_probe", "does not apply to a training case (its loss is `loss`)",
         "kind = 'loss'")
    m, d, o = case.model, case.data, case.optimizer
    if m.layers:
        _validate_layers(case, need)
    else:
        _validate_sizes(case, need)
    need(d.batch_size >= 1, "data.batch_size", f"{d.batch_size} < 1", "an integer >= 1")
    need(d.batches >= 1, "data.batches", f"{d.batches} < 1", "an integer >= 1")
    need(o.lr is None or o.lr > 0, "optimizer.lr", f"{o.lr} is not a learning rate", "a number > 0")
    _validate_optimizer(case, need)
    need(case.optimizer.lr is not None or (case.schedule is None and not case.lr_multipliers), "optimizer.lr",
         "a [schedule] or lr_multipliers scale the case's learning rate, so it must be given", "a number > 0")
    _validate_step_extensions(case, need)
    reg = case.regularization
    if reg is not None:
        names = case.parameter_names()
        for key, value in [("l1", reg.l1), ("l2", reg.l2)]:
            need(value >= 0, f"regularization.{key}", f"{value} is negative", "a number >= 0")
        patterns = [(f"regularization.parameters[{i}]", p) for i, p in enumerate(reg.parameters)]
        patterns += [(f"regularization.overrides.{p}", p) for p in reg.overrides]
        for key, pattern in patterns:
            need(any(fnmatch.fnmatchcase(n, pattern) for n in names), key,
                 f"{pattern!r} matches no parameter", ", ".join(names))
    _validate_clip_and_lr(case, need)
    if case.gradients is not None:
        _validate_gradients(case, need)
    if case.autocast is not None:
        need(case.dtype == "float32", "autocast", f"autocasts a {case.dtype} model", "dtype = 'float32'")
        need(case.loss in ("mse", "cross_entropy"), "autocast",
             f"loss {case.loss!r} runs in bfloat16 under Torch's autocast (its value is not a float32 loss)",
             "loss = 'mse' or 'cross_entropy' (float32 under autocast)")
        need(m.dropout == 0, "autocast", "dropout masks under autocast are not modelled", "model.dropout = 0")


def _validate_sizes(case: Case, need) -> None:
    m, d = case.model, case.data
    need(not d.shape and d.tokens is None and d.pad_id is None, "data.shape",
         "shape, tokens and pad_id describe a layer-list model's input", "[[model.layers]]")
    need(m.init == "seeded" and m.port == "converted", "model.init",
         "framework_default initialisation and unconverted ports need a layer-list model", "[[model.layers]]")
    need(len(m.sizes) >= 2 and all(s >= 1 for s in m.sizes), "model.sizes", f"{list(m.sizes)} is not a layer list",
         "[in, hidden..., out], at least two positive integers")
    need(0.0 <= m.dropout < 1.0, "model.dropout", f"{m.dropout} is not a drop probability", "0 <= p < 1")
    need(m.init_bound is None or m.init_bound > 0, "model.init_bound", f"{m.init_bound} <= 0", "a number > 0")
    if d.inputs is not None:
        rows, cols = len(d.inputs), {len(r) for r in d.inputs}
        need(rows == d.batch_size * d.batches and cols == {m.sizes[0]}, "data.inputs",
             f"shape mismatch: got {rows} rows of {sorted(cols)} values",
             f"{d.batch_size * d.batches} rows (batch_size*batches) of {m.sizes[0]} values (model.sizes[0])")
    need(case.loss != "cross_entropy" or m.sizes[-1] >= 2, "loss",
         "cross_entropy needs at least two outputs", "model.sizes[-1] >= 2")
    _validate_training_sizes(case, need)


def _validate_layers(case: Case, need) -> None:
    """A layer-list model: its input, every layer on its input shape, the loss on its output."""
    m, d = case.model, case.data
    need(not m.sizes, "model.sizes", "a model is either sizes (the MLP shorthand) or layers", "one of the two")
    need(m.dropout == 0 and m.init_bound is None, "model.dropout",
         "dropout and init_bound belong to the sizes shorthand", "a dropout layer in model.layers")
    need(d.inputs is None, "data.inputs", "literal inputs are for the sizes shorthand", "drawn inputs")
    need(bool(d.shape) and all(n >= 1 for n in d.shape), "data.shape", f"{list(d.shape)} is not an input shape",
         "the per-sample shape, e.g. [3, 8, 8] (NCHW images) or [12] (token ids)")
    try:
        network = case.network()
    except LayerError as exc:
        raise SpecError(case.path, exc.key, exc.problem, exc.accepted) from None
    embeds = network[0].kind == "embedding"
    need(embeds == (d.tokens is not None), "data.tokens",
         "token ids feed an embedding (the first layer) and only an embedding",
         "tokens with a first embedding layer, none otherwise")
    if embeds:
        need(1 <= d.tokens <= network[0].spec.num_embeddings, "data.tokens",
             f"{d.tokens} ids do not fit the embedding", f"1..{network[0].spec.num_embeddings}")
    need(d.pad_id is None or (d.tokens is not None and 0 <= d.pad_id < d.tokens), "data.pad_id",
         f"{d.pad_id} is not a token id", "an id in [0, tokens) with tokens")
    kinds = [layer for layer in walk(network)]
    for layer in kinds:
        s = layer.spec
        differs = ((s.kind == "instance_norm" and s.affine is None)
                   or (s.kind == "avg_pool2d" and s.exclude_padding is None and any(s.padding or ()))
                   or (s.kind == "embedding" and s.drawn_padding_row and s.padding_idx is not None))
        need(not differs or case.reference.follows is not None, "reference.follows",
             f"{layer.key} leaves an argument whose default differs between Paddle and Torch, so the reference must "
             f"be told whose to follow", "paddle or torch")
    need(case.autocast is None, "autocast", "the autocast reference covers the sizes shorthand only",
         "no autocast with model.layers")
    need(case.gradients is None or not case.gradients.unused_after, "gradients.unused_after",
         "a layer-list model cannot leave a parameter out of its forward", "frozen parameters only with model.layers")
    need(m.init == "seeded" or case.reference.follows is not None, "reference.follows",
         "framework_default initialisation is compared against one framework's documented initialisers",
         "paddle or torch")
    out = case.output_shape()
    axis = m.class_axis
    if case.loss == "cross_entropy":
        full = (d.batch_size,) + out
        need(-len(full) <= axis < len(full) and axis not in (0, -len(full)), "model.class_axis",
             f"{axis} is not a class axis of the output [N, {', '.join(map(str, out))}]", "an axis other than 0")
        need(full[axis] >= 2, "loss", "cross_entropy needs at least two classes", "an output class axis of size >= 2")


def _validate_training_sizes(case: Case, need) -> None:
    """The bounds of limits.py on a training case: what its model, data and steps make the machine hold."""
    m, d = case.model, case.data
    need(len(m.sizes) <= 64, "model.sizes", f"{len(m.sizes)} layer widths", "at most 64")
    for i, size in enumerate(m.sizes):
        need(size <= limits.MAX_ELEMENTS, f"model.sizes[{i}]", f"{size} is over the limit",
             f"at most {limits.MAX_ELEMENTS}")
    params = sum(a * b + (b if m.bias else 0) for a, b in zip(m.sizes, m.sizes[1:]))
    need(params <= limits.MAX_PARAMS, "model.sizes", f"{params} parameters is over the limit",
         f"at most {limits.MAX_PARAMS} parameters")
    need(params * case.steps <= limits.MAX_PARAM_STEPS, "steps",
         f"{params} parameters x {case.steps} steps is over the limit",
         f"parameters x steps at most {limits.MAX_PARAM_STEPS:.0e}")
    need(m.init_bound is None or m.init_bound <= limits.MAX_INIT_BOUND, "model.init_bound",
         f"{m.init_bound} is over the limit", f"0 < init_bound <= {limits.MAX_INIT_BOUND:g}")
    need(d.batches <= limits.MAX_BATCHES, "data.batches", f"{d.batches} is over the limit",
         f"at most {limits.MAX_BATCHES}")
    rows = d.batch_size * d.batches
    need(rows * max(m.sizes) <= limits.MAX_ELEMENTS, "data.batch_size",
         f"batch_size x batches x widest layer = {rows * max(m.sizes)} values is over the limit",
         f"at most {limits.MAX_ELEMENTS} values")


def _validate_bounds(case: Case, need) -> None:
    """Seeds every RNG accepts, and probe inputs (dropout, normalization, loss) the machine holds."""
    for table in ("data", "dropout", "normalization", "loss_probe"):
        spec = getattr(case, table)
        if spec is not None:
            need(0 <= spec.seed <= limits.MAX_SEED, f"{table}.seed", f"{spec.seed} is not a seed",
                 f"an integer in 0..{limits.MAX_SEED}")
        if spec is None or table == "data":
            continue
        shape = spec.shape
        need(len(shape) <= limits.MAX_RANK, f"{table}.shape", f"rank {len(shape)} is over the limit",
             f"at most {limits.MAX_RANK} axes")
        if all(s >= 1 for s in shape):
            size = limits.elements(shape)
            need(size <= limits.MAX_ELEMENTS, f"{table}.shape", f"{size} elements is over the limit",
                 f"at most {limits.MAX_ELEMENTS} elements")
            need(size * case.steps <= limits.MAX_PARAM_STEPS, "steps",
                 f"{size} elements x {case.steps} steps is over the limit",
                 f"elements x steps at most {limits.MAX_PARAM_STEPS:.0e}")


def validate_sweep(sweep: SweepSpec, raw: dict, path: str | Path) -> None:
    """Ranges that make sense, and keys that make a valid case at both ends of their range."""
    def need(ok: bool, key: str, problem: str, accepted: str | None = None):
        if not ok:
            raise SpecError(path, key, problem, accepted)

    need(bool(sweep.ranges), "sweep.ranges", "is empty", "at least one dotted key, e.g. \"optimizer.lr\"")
    for name in ("examples", "ci_examples"):
        n = getattr(sweep, name)
        need(n >= 1, f"sweep.{name}", f"{n} < 1", f"an integer in 1..{limits.MAX_SWEEP_EXAMPLES}")
        need(n <= limits.MAX_SWEEP_EXAMPLES, f"sweep.{name}", f"{n} is over the limit",
             f"an integer in 1..{limits.MAX_SWEEP_EXAMPLES}")
    for key, r in sweep.ranges.items():
        at = f"sweep.ranges.{key}"
        try:
            dotted.parse(key)
        except ValueError as exc:
            raise SpecError(path, at, str(exc), "dotted keys like optimizer.lr or model.sizes[1]") from None
        need(r.low < r.high, at, f"low {r.low:g} is not below high {r.high:g}", "low < high")
        need(r.scale != "log" or r.low > 0, f"{at}.low", f"{r.low:g} on a log scale", "low > 0 with scale = 'log'")
        need(r.steps >= 1, f"{at}.steps", f"{r.steps} < 1", f"an integer in 1..{limits.MAX_SWEEP_GRID}")
        need(r.steps <= limits.MAX_SWEEP_GRID, f"{at}.steps", f"{r.steps} is over the limit",
             f"an integer in 1..{limits.MAX_SWEEP_GRID}")
        if r.integer:
            need(r.low.is_integer() and r.high.is_integer(), at, f"[{r.low:g}, {r.high:g}] is not whole",
                 "whole low and high with integer = true")
            need(r.scale == "linear", f"{at}.scale", "integer ranges are linear", "scale = 'linear'")
            need(r.high - r.low <= limits.MAX_SWEEP_GRID, at, f"[{r.low:g}, {r.high:g}] holds too many values",
                 f"high - low at most {limits.MAX_SWEEP_GRID}")
        for end in ("low", "high"):
            value = int(getattr(r, end)) if r.integer else getattr(r, end)
            try:
                variant(raw, {key: value}, path)
            except SpecError as exc:
                raise SpecError(path, at, f"{end} = {value!r} makes the case invalid ({exc.key}: {exc.problem})",
                                exc.accepted) from None
