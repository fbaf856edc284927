"""A model-pair case: the user's own Paddle and Torch models, named by importable builders.

The file is a training case whose `[model]` and `[data]` tables are replaced by one `[pair]` table; every
other table (optimizer, regularization, schedule, clip, tolerance, expect) means what it means in any case.
The case stays data: the code lives in the user's module, imported inside each framework's worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..spec import Case, SpecError
from ..spec.base import _build, _doc
from ..spec.case import read_raw

FRAMEWORKS = ("paddle", "torch")
DROPOUT_MODES = ("refuse", "disabled")
WEIGHT_SOURCES = ("torch", "paddle", "none")
TARGETS = ("none", "normal", "classes")
PAIR_LOSSES = ("mean", "mse", "cross_entropy")
# What a pair runs; the rest needs the suite's own model (per-parameter routes, EMA, loss scaling).
UNSUPPORTED = ("model", "data", "lr_multipliers", "loss_scaling", "ema", "routes", "sweep", "dropout",
               "normalization", "loss_probe")


@dataclass(frozen=True)
class PairData:
    seed: int = field(default=0, metadata=_doc("Seed of NumPy's default_rng for inputs and targets."))
    batch_size: int = field(default=8, metadata=_doc("Rows per batch."))
    batches: int = field(default=1, metadata=_doc("Distinct batches; step t uses batch (t-1) mod batches."))
    input_shape: tuple[int, ...] = field(default=(), metadata=_doc(
        "Shape of one input row, without the batch dimension, e.g. [3, 16, 16]."))
    distribution: str = field(default="normal", metadata=_doc("Input distribution.", ("uniform", "normal")))
    targets: str = field(default="none", metadata=_doc(
        "none (loss = mean), normal targets shaped like the output (mse), or integer classes (cross_entropy).",
        TARGETS))
    classes: int = field(default=0, metadata=_doc("Number of classes with targets = 'classes'."))
    source: str = field(default="", metadata=_doc(
        "Instead of the generator: 'module:function' returning a list of (inputs, targets) NumPy pairs "
        "(targets may be None), one per batch."))


@dataclass(frozen=True)
class PairSpec:
    paddle: str = field(metadata=_doc("'module:function' returning the paddle.nn.Layer."))
    torch: str = field(metadata=_doc("'module:function' returning the torch.nn.Module."))
    weights_from: str = field(default="torch", metadata=_doc(
        "The framework whose initial weights are copied into the other model (with each layer kind's layout "
        "conversion); none: each model keeps the weights its builder gave it (to check your own converter), "
        "compared at step 0.", WEIGHT_SOURCES))
    map: dict[str, str] = field(default_factory=dict, metadata=_doc(
        "Explicit name map, paddle name -> torch name (canonical roles: a Paddle BatchNorm's _mean is "
        "running_mean), for what names and shapes cannot match automatically."))
    dropout: str = field(default="refuse", metadata=_doc(
        "refuse: a model with a dropout layer of p > 0 is an error (masks differ between frameworks); "
        "disabled: dropout layers run in eval mode (identity), so the masks and their scaling go unchecked.",
        DROPOUT_MODES))
    data: PairData = field(default_factory=PairData, metadata=_doc("The data."))
    localise: bool = field(default=True, metadata=_doc(
        "At the first divergent step, compare every sub-layer's output and input gradient."))


@dataclass(frozen=True)
class PairCase:
    case: Case  # optimizer, regularization, schedule, clip, tolerance, steps, dtype, loss
    pair: PairSpec
    search_path: tuple[str, ...] = ()  # folders the builders are imported from (the case file's, the cwd)

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def path(self) -> str:
        return self.case.path

    @property
    def tags(self) -> tuple[str, ...]:
        return self.case.tags

    @property
    def kind(self) -> str:  # what reports and JUnit properties call the case's kind
        return "pair"


def is_pair_document(raw: dict) -> bool:
    return isinstance(raw, dict) and "pair" in raw


def load_pair_case(path: str | Path) -> PairCase:
    return pair_case_from_dict(read_raw(path), path)


def load_any(path: str | Path) -> Case | PairCase:
    """A case file: a model pair when it has a [pair] table, else a case of the suite's own model."""
    from ..spec import case_from_dict
    raw = read_raw(path)
    return pair_case_from_dict(raw, path) if is_pair_document(raw) else case_from_dict(raw, path)


def pair_case_from_dict(raw: dict, path: str | Path, search_path: tuple[str, ...] | None = None) -> PairCase:
    path = Path(path)
    for key in UNSUPPORTED:
        if key in raw:
            raise SpecError(path, key, "does not apply to a model pair ([pair] case)",
                            "pair, optimizer, regularization, schedule, clip, loss, steps, dtype, tolerance, expect")
    pair = _build(PairSpec, raw["pair"], path, "pair")
    case = _build(Case, {k: v for k, v in raw.items() if k != "pair"}, path, "")
    import dataclasses
    case = dataclasses.replace(case, path=str(path))
    _validate(case, pair, path)
    if search_path is None:
        search_path = (str(path.resolve().parent), str(Path.cwd()))
    return PairCase(case, pair, search_path)


def _validate(case: Case, pair: PairSpec, path: Path) -> None:
    def need(ok, key, problem, accepted=None):
        if not ok:
            raise SpecError(path, key, problem, accepted)

    need(case.kind == "training", "kind", f"{case.kind!r}: a pair is a training case", "training")
    need(case.optimizer is not None, "optimizer", "a pair case needs an [optimizer] table", "[optimizer]")
    from ..reference.optimizers import REGISTRY
    need(not REGISTRY[case.optimizer.name].closure, "optimizer.name",
         f"{case.optimizer.name} re-evaluates the loss in a closure, which a pair does not run yet",
         "an optimizer stepped once per batch")
    need(case.steps >= 1, "steps", f"{case.steps} is not a step count", "an integer >= 1")
    need(case.loss in PAIR_LOSSES, "loss", f"{case.loss!r}", ", ".join(PAIR_LOSSES))
    for framework in FRAMEWORKS:
        target = getattr(pair, framework)
        need(_is_target(target), f"pair.{framework}", f"{target!r} is not an importable builder",
             "'package.module:function'")
    d = pair.data
    need(_is_target(d.source) or d.source == "", "pair.data.source", f"{d.source!r} is not importable",
         "'package.module:function'")
    need(bool(d.source) or len(d.input_shape) >= 1, "pair.data.input_shape", "is missing",
         "the shape of one input row, e.g. [3, 16, 16], or pair.data.source")
    need(all(s >= 1 for s in d.input_shape), "pair.data.input_shape", f"{list(d.input_shape)}", "positive integers")
    need(d.batch_size >= 1, "pair.data.batch_size", f"{d.batch_size} < 1", "an integer >= 1")
    need(d.batches >= 1, "pair.data.batches", f"{d.batches} < 1", "an integer >= 1")
    wanted = {"mean": "none", "mse": "normal", "cross_entropy": "classes"}[case.loss]
    need(bool(d.source) or d.targets == wanted, "pair.data.targets",
         f"{d.targets!r} does not fit loss = {case.loss!r}", wanted)
    need(d.targets != "classes" or d.classes >= 2, "pair.data.classes", f"{d.classes}", "an integer >= 2")
    sch = case.schedule
    need(sch is None or (sch.then is None and sch.rebuild_at is None), "schedule",
         "a second scheduler ([schedule.then]) or a rebuild (rebuild_at) needs the suite's own model",
         "one scheduler")
    reg = case.regularization
    if reg is not None:
        need(not reg.overrides and not reg.parameters, "regularization",
             "per-parameter coefficients need the suite's per-parameter routes; a pair regularizes through the "
             "optimizer's weight_decay", "l1 or l2 for every parameter")


def _is_target(text: str) -> bool:
    module, _, function = text.partition(":")
    return bool(module) and bool(function) and all(p.isidentifier() for p in module.split(".")) \
        and function.isidentifier()


def coefficients_for(case: Case, names) -> dict:
    """(l1, l2) per parameter name of a user model: the case-wide coefficients for every parameter."""
    from ..spec import Coefficients
    reg = case.regularization
    both = Coefficients() if reg is None else Coefficients(l1=reg.l1, l2=reg.l2)
    return dict.fromkeys(names, both)
