"""``reports/catalogue.md``: what the cases know, generated from the case files alone (no run).

- every declared Paddle/Torch difference (``[[expect.divergent]]``) with its reason, source lines and the
  mapping that restores parity (``parity``), grouped by case; divergences of both frameworks from a claim
  (the textbook cases) are listed apart;
- a coverage table of training techniques: a technique is covered by a case that carries one of its tags
  (or sets one of its spec keys); a technique without cases is listed as a gap, and tags that count for no
  technique are listed so a misspelt tag shows;
- every accepted value of the case schema (optimizer names, losses, dropout modes, ...) with the cases that
  use it, read from the spec's field metadata, so a value added to equivalence/spec/ appears here by itself.

Deterministic: no timestamps, cases in id order, so regenerating an unchanged tree changes nothing.
Regenerate with ``python -m equivalence catalogue`` (``run`` writes it next to its reports too).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from .report import md_code, md_text, write_atomic
from .spec import Case, Divergence, SpecError

DEFAULT_PATH = Path("reports") / "catalogue.md"
FRAMEWORKS = ("paddle", "torch")


@dataclass(frozen=True)
class Technique:
    name: str
    tags: tuple[str, ...]  # normalized: lower case, '-' for '_' and spaces
    keys: tuple[str, ...] = ()  # dotted spec keys: a case setting one to a non-default value counts too


# What the issue names as training techniques. Tags are the contract with case authors; the keys catch cases
# that use a technique without tagging it (keys absent from equivalence/spec/ are ignored).
TECHNIQUES = (
    Technique("optimizers", ("optimizer", "optimizers", "sgd", "momentum", "nesterov", "adam", "adamw",
                             "rmsprop", "adagrad", "adadelta", "adamax", "lamb")),
    Technique("regularizers", ("regularization", "regularizer", "regularizers", "weight-decay", "l1", "l2",
                               "elastic-net"), ("regularization",)),
    Technique("learning-rate schedules", ("schedule", "schedules", "lr-schedule", "lr-scheduler", "scheduler",
                                          "schedulers", "warmup"), ("schedule", "lr_schedule", "scheduler")),
    Technique("dropout", ("dropout",), ("dropout", "model.dropout")),
    Technique("normalization", ("normalization", "norm-layer", "batch-norm", "batchnorm", "layer-norm",
                                "layernorm", "group-norm", "groupnorm", "instance-norm", "instancenorm"),
              ("normalization", "model.normalization", "model.norm")),
    Technique("losses", ("loss", "losses", "loss-function", "mse", "cross-entropy", "l1-loss", "smooth-l1",
                         "huber", "nll"), ("loss", "loss_probe")),
    Technique("gradient clipping", ("clipping", "clip", "grad-clip", "gradient-clipping", "clip-grad-norm",
                                    "clip-grad-value", "clip-by-norm", "clip-by-value", "clip-by-global-norm"),
              ("clip", "clipping", "grad_clip", "optimizer.grad_clip", "optimizer.clip")),
    Technique("loss scaling", ("loss-scaling", "loss-scale", "grad-scaler", "gradscaler", "amp",
                               "mixed-precision"), ("loss_scaling", "loss_scale", "scaler", "amp")),
    Technique("EMA of weights", ("ema", "model-ema", "exponential-moving-average", "weight-averaging", "swa"),
              ("ema", "model_ema")),
)


def normalize_tag(tag: str) -> str:
    return "-".join(tag.strip().lower().replace("_", " ").replace("-", " ").split())


# ------------------------------------------------------------------------------------------------ spec walking

def _default(cls, name: str):
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _values_at(obj, path: list[str]) -> list[tuple[object, object]]:
    """(value, field default) pairs at a dotted path, through nested tables, lists and tables of tables."""
    if not path:
        return []
    if isinstance(obj, (tuple, list)):
        return [pair for item in obj for pair in _values_at(item, path)]
    if isinstance(obj, dict):
        return [pair for item in obj.values() for pair in _values_at(item, path)]
    if not dataclasses.is_dataclass(obj) or path[0] not in {f.name for f in dataclasses.fields(obj)}:
        return []
    value = getattr(obj, path[0])
    if len(path) == 1:
        return [(value, _default(type(obj), path[0]))]
    return _values_at(value, path[1:])


def sets_key(case: Case, key: str) -> bool:
    """Whether the case gives the dotted key a value other than its default (a table present, p > 0, ...)."""
    for value, default in _values_at(case, key.split(".")):
        if value is None or value == default or value in ((), {}, 0, 0.0, False, ""):
            continue
        return True
    return False


def accepted_keys(cls=Case, prefix: str = "") -> list[tuple[str, tuple, object]]:
    """(dotted key, accepted values, default) for every spec field that lists its accepted values, except the
    expectations (``expect.*``), which describe a verdict, not a training configuration."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal") or (cls is Case and f.name == "expect"):
            continue
        key = f"{prefix}{f.name}"
        if f.metadata.get("accepted"):
            out.append((key, tuple(f.metadata["accepted"]), _default(cls, f.name)))
        tp = hints[f.name]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (tuple, dict):
            tp = typing.get_args(tp)[-1] if typing.get_origin(tp) is dict else typing.get_args(tp)[0]
        if dataclasses.is_dataclass(tp) and tp is not cls:  # a nested [schedule] is listed once
            out += accepted_keys(tp, f"{key}.")
    return out


def _uses(case: Case, key: str, value) -> bool:
    if key == "routes":  # unset means the default routes of the case's kind
        return value in case.selected_routes
    for got, _default_value in _values_at(case, key.split(".")):
        if got == value or (isinstance(got, tuple) and value in got):
            return True
    return False


# ------------------------------------------------------------------------------------------------ divergences

def _backend(implementation: str) -> str:
    return implementation.split("/", 1)[0]


def classify(case: Case, d: Divergence) -> str:
    """'framework': Paddle and Torch differ (directly, or only one of them leaves the reference);
    'claim': both frameworks diverge from the reference, which follows a claim; 'other' (e.g. rounding)."""
    own = {_backend(i) for i in d.implementations}
    other = _backend(d.compared_with)
    if other in FRAMEWORKS and own & set(FRAMEWORKS) and other not in own:
        return "framework"
    if d.compared_with == "reference":
        against_reference = {_backend(i) for x in case.expect.divergent if x.compared_with == "reference"
                             for i in x.implementations}
        frameworks = against_reference & set(FRAMEWORKS)
        if len(frameworks) == 1:
            return "framework"
        if len(frameworks) > 1:
            return "claim"
    return "other"


def _link(case: Case, out_dir: Path) -> str:
    if not case.path:
        return md_text(case.id)
    target = Path(os.path.relpath(Path(case.path).resolve(), out_dir.resolve())).as_posix()
    return f"[{md_text(Path(case.path).name)}]({target})"


def _divergence_lines(d: Divergence) -> list[str]:
    against = "the reference" if d.compared_with == "reference" else md_code(d.compared_with)
    lines = [f"- {', '.join(md_code(i) for i in d.implementations)} vs {against}: {md_text(d.reason)}",
             f"  - source: {'; '.join(md_code(r) for r in d.references)}",
             f"  - parity: {md_text(d.parity) if d.parity else 'no mapping known'}"]
    return lines


def _case_block(case: Case, kinds: set[str], out_dir: Path) -> list[str]:
    tags = ", ".join(md_text(t) for t in case.tags)
    lines = [f"### {md_text(case.id)}", "",
             f"{_link(case, out_dir)}" + (f"; tags: {tags}" if tags else ""), "",
             md_text(case.description), ""]
    for d in case.expect.divergent:
        if classify(case, d) in kinds:
            lines += _divergence_lines(d)
    lines.append("")
    return lines


# ------------------------------------------------------------------------------------------------ page

def coverage_rows(cases: list[Case]) -> list[tuple[Technique, list[str]]]:
    rows = []
    for t in TECHNIQUES:
        ids = [c.id for c in cases
               if {normalize_tag(x) for x in c.tags} & set(t.tags) or any(sets_key(c, k) for k in t.keys)]
        rows.append((t, ids))
    return rows


def _ids(ids: list[str]) -> str:
    return ", ".join(f"`{i}`" for i in ids) if ids else "**none (gap)**"


def render(cases: list[Case], errors: list[SpecError] = (), out_dir: str | Path = DEFAULT_PATH.parent) -> str:
    out_dir = Path(out_dir)
    cases = sorted(cases, key=lambda c: c.id)
    lines = ["# Catalogue of Paddle/Torch differences", "",
             "<!-- generated from the case files by `python -m equivalence catalogue`; do not edit -->", "",
             f"{len(cases)} cases, {sum(len(c.expect.divergent) for c in cases)} declared divergences. "
             "Each entry is a case's `[[expect.divergent]]`: the implementations, the reason, the framework source "
             "lines and, where one is known, the mapping that restores parity (`parity`). A divergence that stops "
             "happening fails the suite as stale, so this list is checked on every run.", ""]
    if errors:
        lines += ["Case files that could not be read (left out below):", ""]
        lines += [f"- {md_text(str(err))}" for err in errors]
        lines.append("")

    sections = [("Differences between Paddle and Torch", {"framework"},
                 "One framework leaves the float64 reference (or the other framework) where the other does not."),
                ("Claims both frameworks contradict", {"claim"},
                 "The reference follows a claim (a textbook formula); both frameworks diverge from it the same way."),
                ("Other expected divergences", {"other"}, "")]
    for title, kinds, intro in sections:
        chosen = [c for c in cases if any(classify(c, d) in kinds for d in c.expect.divergent)]
        if not chosen and kinds == {"other"}:
            continue
        lines += [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        if not chosen:
            lines += ["None declared.", ""]
        for case in chosen:
            lines += _case_block(case, kinds, out_dir)

    lines += ["## Coverage of training techniques", "",
              "A case counts for a technique when it has one of the technique's tags (or sets one of its case "
              "keys). Techniques without a case are gaps.", "",
              "| technique | cases | counted tags | counted keys |", "|---|---|---|---|"]
    rows = coverage_rows(cases)
    for t, ids in rows:
        lines.append(f"| {t.name} | {len(ids)}: {_ids(ids)} | {', '.join(t.tags)} | "
                     f"{', '.join(f'`{k}`' for k in t.keys) or '-'} |")
    gaps = [t.name for t, ids in rows if not ids]
    lines += ["", f"Gaps: {', '.join(gaps) if gaps else 'none'}.", ""]
    counted = {tag for t in TECHNIQUES for tag in t.tags}
    other = sorted({normalize_tag(tag) for c in cases for tag in c.tags} - counted)
    if other:
        lines += [f"Tags that count for no technique: {', '.join(md_text(t) for t in other)}.", ""]

    lines += ["## Accepted values of the case schema", "",
              "Every value `python -m equivalence schema` accepts for a case's configuration, with the cases "
              "that use it (a default is counted, not listed: it counts for every case that has the key's table).", "",
              "| key | value | cases |", "|---|---|---|"]
    for key, accepted, default in accepted_keys():
        for value in accepted:
            ids = [c.id for c in cases if _uses(c, key, value)]
            shown = f"`{md_text(value)}`" + (" (default)" if value == default else "")
            # A default is used by every case that has the key's table: its count says enough.
            listed = f"{len(ids)}" if value == default or not ids else f"{len(ids)}: {_ids(ids)}"
            lines.append(f"| `{key}` | {shown} | {listed} |")
    lines.append("")
    return "\n".join(lines)


def split(items: list) -> tuple[list[Case], list[SpecError]]:
    """load_all's list as (cases, errors)."""
    return [i for i in items if isinstance(i, Case)], [i for i in items if isinstance(i, SpecError)]


def write(items: list, path: str | Path = DEFAULT_PATH) -> Path:
    """Render the catalogue of ``items`` (load_all's cases and errors) and write it atomically to ``path``."""
    path = Path(path)
    cases, errors = split(items)
    write_atomic({path: render(cases, errors, out_dir=path.parent)})
    return path
