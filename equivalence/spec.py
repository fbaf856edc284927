"""The typed model of a case file, and the loader that turns TOML into it.

Every key a case file may hold is a field below; its ``doc`` metadata is the documentation that
``python -m equivalence schema`` prints. The loader rejects unknown keys, wrong types and values
outside the accepted set with a ``SpecError`` that names the file, the dotted key and what is accepted.

TOML rather than YAML: it is in the standard library (``tomllib``), it has no implicit typing surprises
(``no`` stays a string, ``1e-3`` is a float), and its tables map one to one onto these dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .record import QUANTITY_ORDER, is_quantity

ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid")
LOSSES = ("mean", "mse", "cross_entropy")
DTYPES = ("float32", "float64")
DISTRIBUTIONS = ("uniform", "normal")
KINDS = ("training", "dropout")
# Neutral route names; each backend labels them its own way (see equivalence/backends/__init__.py).
TRAINING_ROUTES = ("optimizer", "per_parameter", "loss_penalty")
DROPOUT_ROUTES = ("layer", "functional")
PENALTY_FORMS = ("half_squared", "norm")
MOMENTUM_FORMS = ("heavy_ball", "ema")
ATTRIBUTE_PRECISIONS = ("exact", "float32")
FLAVOURS = ("paddle", "torch")
DROPOUT_MODES = ("upscale_in_train", "downscale_in_infer")
PERTURBATIONS = ("lr", "no-regularization", "ignore-overrides", "dropout-p", "decay-exclude-ignored",
                 "lr-ratio-ignored")
DECAY_FORMS = ("decoupled", "coupled_l2")


class SpecError(ValueError):
    """A case file that cannot be used: names the file, the key and what would be accepted."""

    def __init__(self, file: str | Path, key: str, problem: str, accepted: str | None = None):
        self.file, self.key, self.problem, self.accepted = str(file), key, problem, accepted
        text = f"{file}: {key or '<file>'}: {problem}"
        if accepted:
            text += f"; accepted: {accepted}"
        super().__init__(text)


def _optimizer_registry() -> dict:
    # Imported when first needed: the registry lives in the reference package, which imports this module.
    from .reference.optimizers.registry import REGISTRY
    return REGISTRY


class _OptimizerNames(Sequence):
    """The registry's optimizer names, read when first used (see _optimizer_registry)."""

    def __getitem__(self, index):
        return tuple(_optimizer_registry())[index]

    def __len__(self) -> int:
        return len(_optimizer_registry())


OPTIMIZERS = _OptimizerNames()


def _doc(text: str, accepted: tuple | None = None, **extra) -> dict:
    return {"doc": text, "accepted": accepted, **extra}


@dataclass(frozen=True)
class ModelSpec:
    sizes: tuple[int, ...] = field(metadata=_doc(
        "Layer widths [in, hidden..., out]; two entries make a single Linear layer."))
    bias: bool = field(default=True, metadata=_doc("Whether each Linear layer has a bias."))
    activation: str = field(default="tanh", metadata=_doc(
        "Activation between Linear layers (not after the last).", ACTIVATIONS))
    dropout: float = field(default=0.0, metadata=_doc(
        "Dropout probability after each activation; 0 disables it. Masks differ between frameworks, so "
        "the reference replays the mask each implementation recovered from its own outputs."))
    init_bound: float | None = field(default=None, metadata=_doc(
        "Initial parameters are drawn uniform(-bound, bound); default 1/sqrt(fan_in) per layer."))


@dataclass(frozen=True)
class DataSpec:
    seed: int = field(metadata=_doc("Seed of NumPy's default_rng for inputs, targets and initial params."))
    batch_size: int = field(metadata=_doc("Rows per batch."))
    batches: int = field(default=1, metadata=_doc(
        "Number of distinct batches; step t uses batch (t-1) mod batches. 1 = full-batch descent."))
    distribution: str = field(default="uniform", metadata=_doc(
        "Input distribution: uniform [0, 1) (like paddle.rand / torch.rand) or standard normal.",
        DISTRIBUTIONS))
    inputs: tuple[tuple[float, ...], ...] | None = field(default=None, metadata=_doc(
        "Literal inputs, shape [batch_size * batches, sizes[0]]; replaces the drawn ones."))


def _hyper_keys() -> dict[str, str]:
    """optimizer.<key> -> its documentation, for every hyper-parameter in the registry (for `schema`)."""
    docs: dict[str, dict[tuple[str, str], list[str]]] = {}
    for info in _optimizer_registry().values():
        for key in info.settable:
            hyper = info.hypers[key]
            docs.setdefault(key, {}).setdefault((hyper.kind, hyper.doc), []).append(info.name)
    return {key: "; ".join(f"{', '.join(names)}: {doc} ({kind})" for (kind, doc), names in by_doc.items())
            for key, by_doc in docs.items()}


def _convert_hypers(fields: dict, raw: dict, file, prefix: str) -> dict[str, object]:
    """Check the hyper-parameters of [optimizer] against the registry entry of optimizer.name."""
    registry = _optimizer_registry()
    info = registry[fields["name"]]
    result = {}
    for key, value in raw.items():
        dotted = _join(prefix, key)
        if key not in info.settable:
            everywhere = {k: [i.name for i in registry.values() if k in i.settable]
                          for i in registry.values() for k in i.settable}
            close = difflib.get_close_matches(key, list(everywhere), n=1)
            hint = (f" (did you mean {close[0]!r}, a hyper-parameter of {', '.join(everywhere[close[0]])}?)"
                    if close else "")
            raise SpecError(file, dotted, f"unknown key: {info.name} has no hyper-parameter {key!r}{hint}",
                            ", ".join(("name", "lr") + info.settable))
        hyper = info.hypers[key]
        result[key] = _convert_hyper(hyper.kind, value, file, dotted)
        if hyper.kind in ("number", "integer") and not hyper.valid(result[key]):
            raise SpecError(file, dotted, f"{result[key]!r} is out of range", hyper.valid_text)
    return result


def _convert_hyper(kind: str, value, file, key):
    if kind == "number":
        return _convert(float, value, file, key)
    if kind == "integer":
        return _convert(int, value, file, key)
    if kind == "boolean":
        return _convert(bool, value, file, key)
    if kind == "patterns":
        return _convert(tuple[str, ...], value, file, key)
    ratios = _convert(dict[str, float], value, file, key)
    for pattern, ratio in ratios.items():
        if ratio <= 0:
            raise SpecError(file, _join(key, pattern), f"{ratio} is not a learning-rate ratio", "a number > 0")
    return ratios


@dataclass(frozen=True)
class OptimizerSpec:
    """``name`` and ``lr``, then hyper-parameters under neutral names, accepted per optimizer by the
    registry in equivalence/reference/optimizers. A hyper-parameter left out means each framework's own
    default: the backends do not pass it, and the reference takes the default of reference.follows."""

    name: str = field(metadata=_doc("Optimizer.", OPTIMIZERS))
    lr: float | None = field(default=None, metadata=_doc(
        "Learning rate, > 0; left out: each framework's default learning rate."))
    hyper: dict[str, object] = field(default_factory=dict, metadata=_doc(
        "Hyper-parameters by neutral name, written as flat keys of [optimizer].", rest=_hyper_keys,
        convert=_convert_hypers))


@dataclass(frozen=True)
class Coefficients:
    l1: float = field(default=0.0, metadata=_doc("L1 coefficient c: adds c*sign(w) to the gradient."))
    l2: float = field(default=0.0, metadata=_doc("L2 coefficient c: adds c*w to the gradient."))


@dataclass(frozen=True)
class RegularizationSpec:
    l1: float = field(default=0.0, metadata=_doc(
        "L1 coefficient c: penalty c*sum(|w|), gradient c*sign(w). With l2 too this is elastic net."))
    l2: float = field(default=0.0, metadata=_doc(
        "L2 coefficient c: penalty 0.5*c*sum(w**2), gradient c*w (see penalty_form)."))
    parameters: tuple[str, ...] = field(default=(), metadata=_doc(
        "Parameter names or fnmatch patterns (e.g. '*.weight') the coefficients apply to; empty = all."))
    overrides: dict[str, Coefficients] = field(default_factory=dict, metadata=_doc(
        "Per-parameter coefficients that take priority over l1/l2 (Paddle ParamAttr regularizer, "
        "Torch param group). Keys are parameter names or patterns."))
    penalty_form: str = field(default="half_squared", metadata=_doc(
        "How the loss_penalty route and the reference write the L2 penalty: half_squared = "
        "0.5*c*sum(w**2); norm = c*norm(w, 2), not squared (a textbook mistake).", PENALTY_FORMS))


@dataclass(frozen=True)
class DropoutSpec:
    p: float = field(metadata=_doc("Drop probability, 0 <= p < 1."))
    shape: tuple[int, ...] = field(metadata=_doc("Input shape; large, so the keep ratio is meaningful."))
    seed: int = field(default=0, metadata=_doc("Seed for the input, the upstream gradient and the framework RNG."))
    mode: str = field(default="upscale_in_train", metadata=_doc(
        "upscale_in_train: scale kept elements by 1/(1-p) in training, identity in eval; "
        "downscale_in_infer (Paddle only): no scaling in training, scale by (1-p) in eval.", DROPOUT_MODES))
    zero_fraction: float = field(default=0.05, metadata=_doc(
        "Fraction of inputs set exactly to zero, where the mask cannot be read off the output."))


@dataclass(frozen=True)
class ReferenceFlavour:
    momentum: str = field(default="heavy_ball", metadata=_doc(
        "Momentum formula of the reference: heavy_ball v = mu*v + g (Paddle and Torch); ema "
        "v = mu*v + (1-mu)*g (a textbook claim).", MOMENTUM_FORMS))
    attributes: str = field(default="exact", metadata=_doc(
        "exact: hyper-parameters as written (Torch, and Paddle's Scalar arguments); float32: those Paddle's "
        "kernels take as C++ float attributes (the registry marks them: Momentum's mu and fused L2 "
        "coefficient, Adagrad/RMSProp/Adadelta/Adamax/NAdam/RAdam/Lamb hyper-parameters, AdamW's "
        "weight_decay) rounded to float32 first, as Paddle does even for float64 parameters.",
        ATTRIBUTE_PRECISIONS))
    decay: str = field(default="decoupled", metadata=_doc(
        "How the reference applies an optimizer's decoupled weight_decay (AdamW): decoupled w *= 1 - "
        "lr*weight_decay (Paddle and Torch); coupled_l2 adds weight_decay*w to the gradient instead, as Adam's "
        "L2 does (a textbook mistake about AdamW).", DECAY_FORMS))
    follows: str | None = field(default=None, metadata=_doc(
        "Whose optimizer the reference follows where Paddle and Torch differ: their default for a "
        "hyper-parameter the case leaves out, and their formula for an optimizer the registry marks as "
        "computed differently. Needed exactly then.", FLAVOURS))


@dataclass(frozen=True)
class Tolerance:
    rtol: float = field(metadata=_doc("Relative tolerance: |a-b| <= atol + rtol*|b| element-wise."))
    atol: float = field(metadata=_doc("Absolute tolerance; always given together with rtol."))


@dataclass(frozen=True)
class ToleranceSpec:
    rtol: float | None = field(default=None, metadata=_doc("Overrides the dtype default rtol (needs atol)."))
    atol: float | None = field(default=None, metadata=_doc("Overrides the dtype default atol (needs rtol)."))
    quantities: dict[str, Tolerance] = field(default_factory=dict, metadata=_doc(
        "Per-quantity tolerances, e.g. [tolerance.quantities.keep_ratio] rtol = 0, atol = 0.01."))


@dataclass(frozen=True)
class Divergence:
    implementations: tuple[str, ...] = field(metadata=_doc(
        "Implementation ids expected to diverge, e.g. 'paddle/optimizer'."))
    reason: str = field(metadata=_doc("Why they diverge, in one sentence."))
    references: tuple[str, ...] = field(metadata=_doc(
        "Where it comes from: 'framework/file.py:line' or a documentation URL; at least one."))
    compared_with: str = field(default="reference", metadata=_doc(
        "What they diverge from: 'reference', an implementation id, or a backend name ('paddle') for that "
        "backend's implementation of the same route."))


@dataclass(frozen=True)
class ExpectSpec:
    divergent: tuple[Divergence, ...] = field(default=(), metadata=_doc(
        "Expected divergences ([[expect.divergent]]); everything else must equal the reference. "
        "A declared divergence that does not occur fails as stale."))
    sensitivity: tuple[str, ...] = field(default=(), metadata=_doc(
        "Extra perturbations the tolerance must detect, besides the defaults for the case.", PERTURBATIONS))


@dataclass(frozen=True)
class Case:
    id: str = field(metadata=_doc("Unique id, lowercase words joined by '-'; the test id's stem."))
    description: str = field(metadata=_doc("What the case shows, for people."))
    tags: tuple[str, ...] = field(default=(), metadata=_doc("Tags; each is also a pytest marker."))
    kind: str = field(default="training", metadata=_doc(
        "training: a model trained for some steps; dropout: one dropout layer on a large tensor.", KINDS))
    source: tuple[str, ...] = field(default=(), metadata=_doc(
        "Where the scenario's claim comes from: a document, an API page, a framework source line."))
    model: ModelSpec | None = field(default=None, metadata=_doc("The model (training cases)."))
    data: DataSpec | None = field(default=None, metadata=_doc("The data (training cases)."))
    loss: str = field(default="mean", metadata=_doc(
        "mean = mean of the outputs; mse against normal targets; cross_entropy against integer labels.",
        LOSSES))
    optimizer: OptimizerSpec | None = field(default=None, metadata=_doc("The optimizer (training cases)."))
    regularization: RegularizationSpec | None = field(default=None, metadata=_doc("Weight regularization."))
    dropout: DropoutSpec | None = field(default=None, metadata=_doc("The dropout layer (dropout cases)."))
    routes: tuple[str, ...] | None = field(default=None, metadata=_doc(
        "Routes to run in each framework; default: optimizer, plus per_parameter and loss_penalty when "
        "there is regularization (training); layer and functional (dropout).",
        TRAINING_ROUTES + DROPOUT_ROUTES))
    steps: int = field(default=1, metadata=_doc("Optimizer steps to record, >= 1."))
    dtype: str = field(default="float64", metadata=_doc("Floating point type of params and data.", DTYPES))
    reference: ReferenceFlavour = field(default_factory=ReferenceFlavour, metadata=_doc(
        "Formula flavours of the NumPy reference."))
    tolerance: ToleranceSpec = field(default_factory=ToleranceSpec, metadata=_doc("Tolerance overrides."))
    expect: ExpectSpec = field(default_factory=ExpectSpec, metadata=_doc("What is expected."))
    path: str = field(default="", metadata={"internal": True})

    @property
    def selected_routes(self) -> tuple[str, ...]:
        if self.routes is not None:
            return self.routes
        if self.kind == "dropout":
            return DROPOUT_ROUTES
        if self.regularization is not None:
            return TRAINING_ROUTES
        return ("optimizer",)

    def parameter_names(self) -> tuple[str, ...]:
        """Canonical parameter names, in model order: linear0.weight, linear0.bias, linear1.weight, ..."""
        if self.model is None:
            return ()
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
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, "", f"not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "", f"cannot be read ({exc})") from None
    case = _build(Case, raw, path, "")
    case = dataclasses.replace(case, path=str(path))
    validate(case)
    return case


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


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"table of {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {int: "integer", float: "number", bool: "boolean", str: "string"}.get(tp, str(tp))


def _build(cls, raw, file, prefix):
    if not isinstance(raw, dict):
        raise SpecError(file, prefix, f"expected a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    public = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    # A field with ``rest`` metadata takes every key the other fields do not (optimizer hyper-parameters);
    # its ``convert`` checks them once the other fields are known.
    rest = next((f for f in public.values() if f.metadata.get("rest")), None)
    declared = {name: f for name, f in public.items() if f is not rest}
    if rest is None:
        for key in raw:
            if key not in public:
                raise SpecError(file, _join(prefix, key), "unknown key", ", ".join(public))
    values = {}
    for name, f in declared.items():
        key = _join(prefix, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpecError(file, key, "missing required key", _type_name(hints[name]))
            continue
        value = _convert(hints[name], raw[name], file, key)
        accepted = f.metadata.get("accepted")
        if accepted is not None:
            for item in value if isinstance(value, tuple) else (value,):
                if item not in accepted:
                    raise SpecError(file, key, f"{item!r} is not known", ", ".join(accepted))
        values[name] = value
    if rest is not None:
        extra = {k: v for k, v in raw.items() if k not in declared}
        values[rest.name] = rest.metadata["convert"](values, extra, file, prefix)
    return cls(**values)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _convert(tp, value, file, key):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner, value, file, key)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, file, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise SpecError(file, key, f"expected a list, got {type(value).__name__} {value!r}")
        item_tp = typing.get_args(tp)[0]
        return tuple(_convert(item_tp, v, file, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SpecError(file, key, f"expected a table, got {type(value).__name__}")
        item_tp = typing.get_args(tp)[1]
        return {k: _convert(item_tp, v, file, _join(key, k)) for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(file, key, f"expected a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise SpecError(file, key, f"{value!r} is not finite", "a finite number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(file, key, f"expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise SpecError(file, key, f"expected a {_type_name(tp)}, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"spec field type {tp!r} has no converter")  # a bug in this module, not in a case


# ------------------------------------------------------------------------------------------- validation

def validate(case: Case) -> None:
    """Checks that need more than one key, or ranges. Raises SpecError on the first problem."""
    f = case.path

    def need(ok: bool, key: str, problem: str, accepted: str | None = None):
        if not ok:
            raise SpecError(f, key, problem, accepted)

    need(bool(case.id) and case.id == case.id.strip() and " " not in case.id, "id",
         f"{case.id!r} is not a usable id", "non-empty, no spaces")
    need(case.steps >= 1, "steps", f"{case.steps} is not a step count", "an integer >= 1")
    routes = TRAINING_ROUTES if case.kind == "training" else DROPOUT_ROUTES
    for r in case.selected_routes:
        need(r in routes, "routes", f"route {r!r} does not apply to a {case.kind} case", ", ".join(routes))
    tol = case.tolerance
    need((tol.rtol is None) == (tol.atol is None), "tolerance",
         "rtol and atol are given together or not at all", "both rtol and atol")
    for q in tol.quantities:
        need(is_quantity(q), f"tolerance.quantities.{q}", "is not a recorded quantity", ", ".join(QUANTITY_ORDER))
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

    if case.kind == "dropout":
        need(case.dropout is not None, "dropout", "a dropout case needs a [dropout] table", "[dropout]")
        for key in ("model", "data", "optimizer", "regularization"):
            need(getattr(case, key) is None, key, "does not apply to a dropout case", "[dropout] only")
        d = case.dropout
        need(0.0 <= d.p < 1.0, "dropout.p", f"{d.p} is not a drop probability", "0 <= p < 1")
        need(len(d.shape) >= 1 and all(s >= 1 for s in d.shape), "dropout.shape", f"{list(d.shape)} is not a shape",
             "positive integers")
        need(0.0 <= d.zero_fraction < 1.0, "dropout.zero_fraction", f"{d.zero_fraction} out of range", "0 <= x < 1")
        return

    for key in ("model", "data", "optimizer"):
        need(getattr(case, key) is not None, key, f"a training case needs a [{key}] table", f"[{key}]")
    need(case.dropout is None, "dropout", "a training case puts dropout in model.dropout", "model.dropout")
    m, d, o = case.model, case.data, case.optimizer
    need(len(m.sizes) >= 2 and all(s >= 1 for s in m.sizes), "model.sizes", f"{list(m.sizes)} is not a layer list",
         "[in, hidden..., out], at least two positive integers")
    need(0.0 <= m.dropout < 1.0, "model.dropout", f"{m.dropout} is not a drop probability", "0 <= p < 1")
    need(m.init_bound is None or m.init_bound > 0, "model.init_bound", f"{m.init_bound} <= 0", "a number > 0")
    need(d.batch_size >= 1, "data.batch_size", f"{d.batch_size} < 1", "an integer >= 1")
    need(d.batches >= 1, "data.batches", f"{d.batches} < 1", "an integer >= 1")
    if d.inputs is not None:
        rows, cols = len(d.inputs), {len(r) for r in d.inputs}
        need(rows == d.batch_size * d.batches and cols == {m.sizes[0]}, "data.inputs",
             f"shape mismatch: got {rows} rows of {sorted(cols)} values",
             f"{d.batch_size * d.batches} rows (batch_size*batches) of {m.sizes[0]} values (model.sizes[0])")
    need(case.loss != "cross_entropy" or m.sizes[-1] >= 2, "loss",
         "cross_entropy needs at least two outputs", "model.sizes[-1] >= 2")
    need(o.lr is None or o.lr > 0, "optimizer.lr", f"{o.lr} is not a learning rate", "a number > 0")
    _validate_optimizer(case, need)
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


def _validate_optimizer(case: Case, need) -> None:
    """Per-parameter patterns must match a parameter; a left-out hyper-parameter whose defaults differ, or
    an optimizer the frameworks compute differently, needs reference.follows to say whose the reference
    takes."""
    o, follows = case.optimizer, case.reference.follows
    info = _optimizer_registry()[o.name]
    names = case.parameter_names()
    for key, value in o.hyper.items():
        patterns = value if info.hypers[key].kind == "patterns" else (
            tuple(value) if info.hypers[key].kind == "ratios" else ())
        for pattern in patterns:
            need(any(fnmatch.fnmatchcase(n, pattern) for n in names), f"optimizer.{key}",
                 f"{pattern!r} matches no parameter", ", ".join(names))
    given = set(o.hyper) | ({"lr"} if o.lr is not None else set())
    for key, hyper in info.hypers.items():
        if key in given:
            continue
        p, t = hyper.paddle.default, hyper.torch.default
        need(not hyper.defaults_differ() or follows is not None, "reference.follows",
             f"optimizer.{key} is left to each framework's default and they differ (paddle {p!r}, torch {t!r}); "
             "say whose default the reference takes, or set the key", "paddle, torch")
        side = hyper.side(follows or "torch")
        need(side.name is None or side.default is not None, f"optimizer.{key}",
             f"{follows or 'torch'} has no default for it ({side.source}); the reference cannot follow it",
             f"a value for optimizer.{key}")
    need(not info.differs or follows is not None, "reference.follows",
         f"{o.name}: Paddle and Torch compute different updates ({info.differs}); say whose formula the "
         "reference follows", "paddle, torch")
