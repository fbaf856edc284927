"""The typed model of a case file, and the loader that turns TOML into it.

Every key a case file may hold is a field below; its ``doc`` metadata is the documentation that
``python -m equivalence schema`` prints. The loader rejects unknown keys, wrong types and values
outside the accepted set with a ``SpecError`` that names the file, the dotted key and what is accepted.

One module per table family, so that a new layer or optimizer setting touches one of them: base (SpecError
and the TOML-to-dataclass conversion), routes, model, data, optimizer, regularization, dropout,
normalization, loss_probe, clip (and lr_multipliers), flavour ([reference]), schedule, scaling
([loss_scaling], [ema]), expectations ([tolerance], [expect], [sweep]) and case (the top level, loading and
the checks across tables). Everything is re-exported here: ``from equivalence.spec import X``.

TOML rather than YAML: it is in the standard library (``tomllib``), it has no implicit typing surprises
(``no`` stays a string, ``1e-3`` is a float), and its tables map one to one onto these dataclasses.
"""

from __future__ import annotations

from .base import SpecError, _type_name
from .routes import (
    BASE_ROUTES, CLIPPED_ROUTES, CLIP_ROUTES, EMA_ROUTES, GROUP_ROUTES, PER_PARAMETER_ROUTES, PORT_ROUTE, TRAINING_ROUTES,
    TRAINING_ROUTE_NAMES, VARIANT_ROUTES, clipped_route, split_route)
from .model import ACTIVATIONS, LOSSES, ModelSpec
from .data import DISTRIBUTIONS, DataSpec
from .optimizer import OPTIMIZERS, OptimizerSpec
from .regularization import PADDLE_DECAY_ARGUMENTS, PENALTY_FORMS, Coefficients, RegularizationSpec
from .dropout import ALPHA_VARIANTS, CHANNEL_VARIANTS, DROPOUT_MODES, DROPOUT_ROUTES, DROPOUT_VARIANTS, DropoutSpec
from .normalization import (
    DEFAULT_NORM_EPSILON, DEFAULT_NORM_MOMENTUM, MOMENTUM_MAPPINGS, NORMALIZATION_LAYERS, NORMALIZATION_ROUTES,
    RUNNING_VARIANCES, STATISTICS, NormalizationSpec)
from .loss_probe import (
    CLASS_LOSSES, LOSS_MAPPINGS, LOSS_NAMES, LOSS_OPTIONS, LOSS_REDUCTIONS, LOSS_ROUTES, LossProbeSpec)
from .clip import CLIP_ACTIVITY, CLIP_KINDS, CLIP_NORM_FORMULAS, CLIP_ORDERS, NORM_TYPES, ClipSpec
from .gradients import GRADIENT_RESETS, GradientSpec
from .flavour import ATTRIBUTE_PRECISIONS, AUTOCAST_FLAVOURS, DECAY_FORMS, FLAVOURS, MOMENTUM_FORMS, ReferenceFlavour
from .schedule import (
    ANNEAL_STRATEGIES, CYCLIC_MODES, LAMBDA_FUNCTIONS, PLATEAU_MODES, SCHEDULES, SCHEDULE_MAPPINGS,
    SCHEDULE_PARAMETERS, THRESHOLD_MODES, WARMUP_AFTER, ScheduleSpec)
from .scaling import EMA_INITS, EMA_WARMUPS, INJECTED_VALUES, UNSCALE_FORMS, EmaSpec, Injection, LossScalingSpec
from .expectations import (
    PERTURBATIONS, SWEEP_SCALES, CompareSpec, Divergence, ExpectSpec, SweepRange, SweepSpec, Tolerance,
    ToleranceSpec)
from .case import (
    AUTOCAST_DTYPES, DTYPES, KINDS, Case, case_from_dict, discover, load_case, read_raw, validate, validate_sweep, variant)
from .unique import load_unique_case, mark_duplicates
