"""The pipeline configuration schema: one YAML file per pipeline, validated on load.

Every default of the project's configuration is written here, once, as a field default;
``r2p config defaults`` prints them. Models know nothing of this module: stages read the
validated objects and pass plain values on.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def suggest_identifier(header: str) -> str:
    """An identifier close to ``header`` (lower case, ``_`` for anything else): what r2p
    init writes as ``name`` beside ``source_name`` when a landing header is not one."""
    out = re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")
    if not out or not out[0].isalpha():
        out = f"c_{out}".rstrip("_")
    return out[:63]


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not an identifier (lower case, digits and _, starting with a letter, "
            f"at most 63 characters): use {suggest_identifier(value)} here and give the landing "
            f"file's header as source_name: {value!r}"
        )
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
Dtype = Literal["int64", "float64", "string", "category", "bool"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CADENCE = re.compile(r"^(daily|weekly:(mon|tue|wed|thu|fri|sat|sun))$")


SourceName = Annotated[str, Field(min_length=1, max_length=1024)]


def _named(data: Any, fields: dict[str, bool]) -> Any:
    """``field: {name: x, source_name: "X"}`` becomes ``field: x`` and ``field_source_name``
    (and ``field_generate`` where ``fields[field]`` allows a generated column)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, generated in fields.items():
        value = out.get(name)
        if not isinstance(value, dict):
            continue
        allowed = {"name", "source_name"} | ({"generate"} if generated else set())
        if "name" not in value or set(value) - allowed:
            raise ValueError(
                f"{name}: a mapping takes {sorted(allowed)} (name: r2p's identifier, "
                f"source_name: the header in the landing file), got {sorted(value)}"
            )
        out[name] = value["name"]
        for key in ("source_name", "generate"):
            if key in value:
                out[f"{name}_{key}"] = value[key]
    return out


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, so a typo is named, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SampleHint(Strict):
    """How the sample generator draws a column (ignored by the pipeline itself)."""

    dist: Literal["normal", "lognormal", "poisson", "uniform", "choice"] = "normal"
    mean: float = 0.0
    sd: float = Field(1.0, gt=0)
    low: float = 0.0
    high: float = 1.0
    weights: list[float] | None = None
    effect: float | None = None  # signal strength on the label; drawn from the seed when unset


class Column(Strict):
    """One typed column of a source, with the bounds the expectations check."""

    name: Identifier
    dtype: Dtype
    source_name: SourceName | None = None  # the header in the landing file, when not ``name``
    categories: list[str] | None = None
    nullable: bool = False  # a gap is data (imputed in the graph), not a row defect
    min: float | None = None
    max: float | None = None
    sample: SampleHint = SampleHint()

    @model_validator(mode="after")
    def _categories_match_dtype(self) -> Column:
        if self.dtype == "category":
            if not self.categories or len(set(self.categories)) != len(self.categories):
                raise ValueError("a category column needs a non-empty list of unique categories")
        elif self.categories is not None:
            raise ValueError(f"categories are only allowed on dtype 'category', not {self.dtype!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class FeatureSource(Strict):
    """A source of features: a snapshot per entity (profile) or many events per entity."""

    name: Identifier
    kind: Literal["snapshot", "events"]
    timestamp: Identifier
    timestamp_source_name: SourceName | None = None
    # partition_date: the producer (``r2p land``) stamps each row with its partition's date
    timestamp_generate: Literal["partition_date"] | None = None
    cadence: str = "daily"
    ttl_days: int = Field(7, ge=1)
    events_per_entity: float = Field(3.0, gt=0)  # sample generator: mean events per entity-day
    columns: list[Column] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _named_fields(cls, data: Any) -> Any:
        return _named(data, {"timestamp": True})

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, v: str) -> str:
        if not _CADENCE.match(v):
            raise ValueError(f"cadence must be 'daily' or 'weekly:<mon..sun>', got {v!r}")
        return v

    @model_validator(mode="after")
    def _ttl_covers_cadence(self) -> FeatureSource:
        if self.cadence.startswith("weekly") and self.ttl_days < 7:
            raise ValueError(f"ttl_days {self.ttl_days} is shorter than the weekly cadence (7)")
        return self

    def is_due(self, day: dt.date) -> bool:
        """True when this source delivers a landing partition for ``day``."""
        if self.cadence == "daily":
            return True
        return WEEKDAYS[day.weekday()] == self.cadence.split(":", 1)[1]


class LabelSource(Strict):
    """Labels: in their own source, ``delay_days`` after the moment they describe, or (with
    ``source``) a column of a feature source's rows, known with that row (no delay).

    Without ``arrival_timestamp`` a label source's arrival is the row's own ``timestamp``.
    With ``source``, ``name`` (default ``<source>_labels``) names the label partitions ingest
    derives from that source's rows, and ``timestamp`` is the source's own.
    """

    source: Identifier | None = None
    name: Identifier
    column: Identifier
    column_source_name: SourceName | None = None
    timestamp: Identifier  # the moment the label describes (the join time)
    timestamp_source_name: SourceName | None = None
    # when it landed; the landing partition follows this one (default: ``timestamp``)
    arrival_timestamp: Identifier
    arrival_timestamp_source_name: SourceName | None = None
    delay_days: int = Field(2, ge=0)
    classes: list[str] = Field(min_length=2)
    positive_class: str | None = None
    label_fraction: float = Field(0.3, gt=0, le=1)  # sample generator: labelled share per day

    @model_validator(mode="before")
    @classmethod
    def _named_fields(cls, data: Any) -> Any:
        data = _named(data, {"column": False, "timestamp": False, "arrival_timestamp": False})
        if isinstance(data, dict) and data.get("arrival_timestamp") is None and "timestamp" in data:
            data = {**data, "arrival_timestamp": data["timestamp"]}
            if data.get("timestamp_source_name") is not None:
                data["arrival_timestamp_source_name"] = data["timestamp_source_name"]
        return data

    @property
    def inline(self) -> bool:
        """True when the label is a column of a feature source (``source``)."""
        return self.source is not None

    @model_validator(mode="after")
    def _classes(self) -> LabelSource:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be unique")
        if self.positive_class is not None and self.positive_class not in self.classes:
            raise ValueError(f"positive_class {self.positive_class!r} is not one of the classes")
        return self


class Entity(Strict):
    name: Identifier
    key: Identifier
    dtype: Literal["int64", "string"] = "int64"
    source_name: SourceName | None = None  # the key's header in the landing file
    # row_number: the producer (``r2p land``) numbers the rows of a table that has no key
    generate: Literal["row_number"] | None = None


class Dataset(Strict):
    name: Identifier
    entity: Entity
    sources: list[FeatureSource] = Field(min_length=1)
    label: LabelSource

    @model_validator(mode="before")
    @classmethod
    def _inline_label(cls, data: Any) -> Any:
        """A label with ``source`` takes its name, timestamp and arrival from that source."""
        if not isinstance(data, dict) or not isinstance(data.get("label"), dict):
            return data
        label = dict(data["label"])
        if label.get("source") is None:
            return data
        sources = data.get("sources") if isinstance(data.get("sources"), list) else []
        src = next(
            (s for s in sources if isinstance(s, dict) and s.get("name") == label["source"]), None
        )
        if src is None:
            known = [s.get("name") for s in sources if isinstance(s, dict)]
            raise ValueError(
                f"label.source {label['source']!r} is not a feature source; known: {known}"
            )
        ts = src.get("timestamp")
        ts = ts.get("name") if isinstance(ts, dict) else ts
        for key in ("timestamp", "arrival_timestamp"):
            if label.get(key) not in (None, ts):  # the resolved config repeats it: fine
                raise ValueError(
                    f"label.{key}: a label with source takes the timestamp of its source "
                    f"({label['source']!r}); remove label.{key}"
                )
        if label.get("delay_days", 0) != 0:
            raise ValueError(
                "label.delay_days: a label with source is known with its row; remove it or set 0"
            )
        label.setdefault("name", f"{label['source']}_labels")
        label.update(timestamp=ts, arrival_timestamp=ts, delay_days=0)
        return {**data, "label": label}

    @model_validator(mode="after")
    def _names_unique(self) -> Dataset:
        lab = self.label
        reserved = {self.entity.key, lab.column, lab.timestamp, lab.arrival_timestamp}
        seen: dict[str, str] = {}
        names = [s.name for s in self.sources] + [self.label.name]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        for src in self.sources:
            for col in src.columns:
                if col.name in reserved or col.name == src.timestamp:
                    raise ValueError(
                        f"{src.name}.{col.name} reuses the entity key, a timestamp or the label"
                    )
                if col.name in seen:
                    raise ValueError(
                        f"feature {col.name!r} is in both {seen[col.name]!r} and {src.name!r}"
                    )
                seen[col.name] = src.name
            headers = [c.source_name or c.name for c in src.columns]
            if len(set(headers)) != len(headers):
                dup = sorted({h for h in headers if headers.count(h) > 1})
                raise ValueError(f"{src.name}: two columns read the same landing header {dup}")
        return self

    def landing_header(self, name: str, source: str) -> str:
        """The header in ``source``'s landing file of r2p's column ``name``."""
        if name == self.entity.key:
            return self.entity.source_name or name
        lab = self.label
        if source == lab.name or source == lab.source:
            for field in ("column", "timestamp", "arrival_timestamp"):
                if getattr(lab, field) == name and getattr(lab, f"{field}_source_name"):
                    return getattr(lab, f"{field}_source_name")
        for src in self.sources:
            if src.name != source:
                continue
            if name == src.timestamp:
                return src.timestamp_source_name or name
            for col in src.columns:
                if col.name == name:
                    return col.source_name or name
        return name


class Landing(Strict):
    """The landing contract: how files arrive and when they count as complete."""

    format: Literal["csv", "parquet"] = "csv"
    contract: Literal["manifest", "success_marker"] = "manifest"
    deadline_hours: float = Field(6.0, ge=0)  # after the interval's end; late data fails only then
    poke_interval_seconds: int = Field(60, ge=1)
    max_bad_row_fraction: float = Field(0.0, ge=0, le=1)
    files_per_partition: int = Field(1, ge=1)  # sample generator


class Expectation(Strict):
    """An extra Great Expectations expectation, by its class name in snake case."""

    type: Annotated[str, Field(pattern=r"^expect_[a-z_]+$")]
    source: Identifier
    kwargs: dict[str, object] = {}


class Features(Strict):
    service_version: int = Field(1, ge=1)


class Split(Strict):
    """``time``: the newest ``test_days`` are test, the ``valid_days`` before them valid.
    ``random``: each row (or each entity, with ``group_by_entity``) goes to test, valid or
    train by a seeded hash of its key and time, in each class's proportions, for tables whose
    time order means nothing; the same row lands in the same split in every run."""

    method: Literal["time", "random"] = "time"
    valid_days: int = Field(3, ge=1)
    test_days: int = Field(3, ge=1)
    valid_fraction: float = Field(0.15, gt=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0
    group_by_entity: bool = False

    @model_validator(mode="after")
    def _fractions(self) -> Split:
        if self.valid_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"valid_fraction + test_fraction is {self.valid_fraction + self.test_fraction}: "
                "keep it below 0.9 so the train split has rows"
            )
        return self


class Training(Strict):
    window_days: int = Field(28, ge=3)
    split: Split = Split()
    schedule: str | None = None  # cron; None = triggered by the features asset
    timeout_minutes: int = Field(60, ge=1)  # execution timeout of each training task


class Layer(Strict):
    units: int = Field(ge=1)
    activation: Literal["relu", "tanh", "gelu", "sigmoid", "linear"] = "relu"
    dropout: float = Field(0.0, ge=0, lt=1)
    norm: Literal["none", "batch", "layer"] = "none"


class EarlyStopping(Strict):
    """Stop after ``patience`` epochs without improving ``monitor`` and keep the best epoch's
    weights: ``val_loss`` is the lowest validation log loss, ``val_auc`` the highest validation
    ROC AUC (of the positive class; macro one-vs-rest for more than two classes)."""

    patience: int = Field(3, ge=1)
    monitor: Literal["val_loss", "val_auc"] = "val_loss"


class Plateau(Strict):
    """``lr_schedule: plateau``: after ``patience`` epochs in a row without improving the
    figure ``early_stopping.monitor`` names, the learning rate is multiplied by ``factor``
    (never below ``min_learning_rate``)."""

    factor: float = Field(0.5, gt=0, lt=1)
    patience: int = Field(1, ge=1)


CLASS_WEIGHTS = ("none", "balanced")


class ModelSpec(Strict):
    """One candidate model. ``kind`` names its builder pair in ``r2p.training.models.REGISTRY``
    (the same architecture in PyTorch and TensorFlow); ``layers`` are its hidden layers.

    ``epochs`` is a maximum: early stopping ends training sooner. The learning rate of each
    epoch follows ``lr_schedule``: ``none`` keeps ``learning_rate``; ``cosine`` anneals it
    from ``learning_rate`` towards ``min_learning_rate`` over ``epochs``; ``plateau`` cuts it
    as ``lr_plateau`` says. ``weight_decay`` is decoupled (AdamW-style, for sgd too): every
    step shrinks each weight matrix by ``learning_rate * weight_decay`` of itself (biases and
    normalisation scales are not decayed). ``class_weight`` weighs each row's loss by its
    class: ``balanced`` is ``n / (k * count)`` on the train split, a mapping names classes of
    ``dataset.label.classes`` (those left out weigh 1).
    """

    name: Identifier
    kind: str = "mlp"
    layers: list[Layer] = Field(default_factory=list, validate_default=True)  # none: kind linear
    embedding_size: int = Field(8, ge=1)  # kind wide_deep: each categorical's embedding width
    loss: Literal["cross_entropy"] = "cross_entropy"
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(256, ge=1)
    epochs: int = Field(10, ge=1)
    early_stopping: EarlyStopping = EarlyStopping()
    lr_schedule: Literal["none", "cosine", "plateau"] = "none"
    lr_plateau: Plateau = Plateau()
    min_learning_rate: float = Field(0.0, ge=0)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    class_weight: str | dict[str, float] = "none"
    seed: int = 42

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from r2p.training.models import REGISTRY  # imports no framework: builders do, inside

        if value not in REGISTRY:
            raise ValueError(f"unknown model kind {value!r}; known: {sorted(REGISTRY)}")
        return value

    @field_validator("class_weight", mode="before")
    @classmethod
    def _class_weight(cls, value: Any) -> Any:
        if isinstance(value, str) and value in CLASS_WEIGHTS:
            return value
        if isinstance(value, dict) and value:
            for name, weight in value.items():
                number = isinstance(weight, int | float) and not isinstance(weight, bool)
                if not isinstance(name, str) or not number or not 0 < weight < float("inf"):
                    raise ValueError(
                        f"class_weight {name!r}: {weight!r} is not a positive finite number"
                    )
            return value
        raise ValueError(
            f"class_weight must be none, balanced or a mapping {{class: weight}}, got {value!r}"
        )

    @field_validator("layers")
    @classmethod
    def _layers_for_kind(cls, value: list[Layer], info: ValidationInfo) -> list[Layer]:
        from r2p.training.models import HIDDEN_LAYERS_NONE

        kind = info.data.get("kind")  # absent when the kind itself was refused
        if kind in HIDDEN_LAYERS_NONE and value:
            raise ValueError(
                f"kind {kind} has no hidden layer: remove layers "
                "(or choose kind mlp, resmlp or wide_deep)"
            )
        if kind is not None and kind not in HIDDEN_LAYERS_NONE and not value:
            raise ValueError(
                f"kind {kind} needs at least one entry in layers "
                "(kind linear is the one without hidden layers)"
            )
        return value

    @model_validator(mode="after")
    def _schedule(self) -> ModelSpec:
        if self.lr_schedule != "none" and self.min_learning_rate >= self.learning_rate:
            raise ValueError(
                f"min_learning_rate ({self.min_learning_rate}) must be below learning_rate "
                f"({self.learning_rate}) for lr_schedule {self.lr_schedule}"
            )
        if self.lr_schedule == "plateau" and (
            self.lr_plateau.patience >= self.early_stopping.patience
        ):
            raise ValueError(
                f"lr_plateau.patience ({self.lr_plateau.patience}) must be below "
                f"early_stopping.patience ({self.early_stopping.patience}): otherwise training "
                "stops before the learning rate is ever cut"
            )
        return self


# Evaluation metrics. For more than two classes roc_auc, f1, precision and recall are the macro
# (one-vs-rest) averages; for two, they are of the positive class. balanced_accuracy: the mean
# recall of every class. log_loss: lower is better.
METRICS = ("accuracy", "roc_auc", "f1", "log_loss", "precision", "recall", "balanced_accuracy")
LOWER_IS_BETTER = frozenset({"log_loss"})


def _known_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {list(METRICS)}")
    return name


Metric = Annotated[str, AfterValidator(_known_metric)]


class Improvement(Strict):
    """The challenger must beat the champion on ``metric`` (paired bootstrap on the same rows):
    the one-sided ``confidence`` lower bound of its improvement must exceed ``min_delta``."""

    metric: Metric = "roc_auc"
    min_delta: float = Field(0.0, ge=0)
    confidence: float = Field(0.95, ge=0.5, lt=1)
    bootstrap_samples: int = Field(1000, ge=100, le=100_000)
    seed: int = 0


class Gates(Strict):
    """When a candidate may replace the champion (DESIGN §5), and the parity/export limits.

    ``floors``: a metric's worst acceptable value (a maximum for log_loss). The improvement
    metric must have a floor: a missing threshold fails closed. ``guard``: metrics the candidate
    must not lose on, against the baseline or (beyond ``max_regression``) the champion, with
    confidence. ``first_run``: with no champion yet, ``promote`` a candidate that passes its
    floors and guards and is not beaten by the baseline, or leave it to a person (``manual``:
    ``r2p promotion force``).
    """

    min_eval_rows: int = Field(200, ge=1)
    metrics: list[Metric] = ["accuracy", "roc_auc", "f1", "log_loss"]
    floors: dict[Metric, float] = {"roc_auc": 0.6}
    improvement: Improvement = Improvement()
    # Against the logistic-regression baseline: "not_worse" fails a candidate the baseline beats
    # with confidence (the whole interval of its improvement below zero); "better" needs the
    # candidate to beat it with confidence; "ignore" only reports it.
    baseline: Literal["not_worse", "better", "ignore"] = "not_worse"
    # A reference reported beside the baseline, never gated: "hgb" fits scikit-learn's
    # HistGradientBoostingClassifier on the same train split and encoding; "none" skips it.
    reference: Literal["hgb", "none"] = "hgb"
    # Guard metrics: none may be worse than the baseline's with confidence (unless baseline is
    # "ignore"), nor worse than the champion's by more than max_regression[metric] with
    # confidence. f1 is the positive class's for two classes, the macro average for more.
    guard: list[Metric] = ["log_loss", "accuracy", "f1"]
    max_regression: dict[Metric, Annotated[float, Field(ge=0)]] = {}  # absolute; default 0
    # A candidate predicting one class for at least this share of the evaluation rows, while
    # that class is a smaller share of the labels, is degenerate: rejected by name.
    degenerate_share: float = Field(0.95, gt=0.5, le=1)
    first_run: Literal["promote", "manual"] = "promote"
    parity_metric_tolerance: float = Field(0.02, ge=0)
    parity_min_agreement: float = Field(0.97, ge=0, le=1)
    max_pb_bytes: int = Field(2**31 - 1 - 2**20, ge=1)  # just under protobuf's 2 GB limit

    @model_validator(mode="after")
    def _guards(self) -> Gates:
        twice = sorted({m for m in self.guard if self.guard.count(m) > 1})
        if twice:
            raise ValueError(f"gates.guard lists {twice} more than once")
        stray = sorted(set(self.max_regression) - set(self.guard))
        if stray:
            raise ValueError(
                f"gates.max_regression names {stray}, which gates.guard {self.guard} does not "
                "guard: add them to gates.guard or remove them"
            )
        return self


class Threshold(Strict):
    """How the operating threshold of a two-class model is chosen on the validation split
    (calibrated probabilities of ``dataset.label.positive_class``): ``f1`` maximises its F1,
    ``youden`` sensitivity + specificity, ``precision_at_recall`` the precision among the
    thresholds whose recall reaches ``recall``, ``cost`` minimises
    ``cost_false_positive * FP + cost_false_negative * FN``. ``argmax`` keeps 0.5."""

    optimize: Literal["f1", "youden", "precision_at_recall", "cost", "argmax"] = "f1"
    recall: float | None = Field(None, gt=0, le=1)
    cost_false_positive: float | None = Field(None, gt=0, allow_inf_nan=False)
    cost_false_negative: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _needs(self) -> Threshold:
        if self.optimize == "precision_at_recall" and self.recall is None:
            raise ValueError(
                "optimize: precision_at_recall needs recall (the recall to reach, e.g. 0.8)"
            )
        if self.optimize == "cost" and (
            self.cost_false_positive is None or self.cost_false_negative is None
        ):
            raise ValueError(
                "optimize: cost needs cost_false_positive and cost_false_negative (e.g. 1 and 5)"
            )
        stray = [
            k
            for k, needed_by in (
                ("recall", "precision_at_recall"),
                ("cost_false_positive", "cost"),
                ("cost_false_negative", "cost"),
            )
            if getattr(self, k) is not None and self.optimize != needed_by
        ]
        if stray:
            raise ValueError(f"{stray} are read by another optimize, not {self.optimize!r}")
        return self


class Evaluation(Strict):
    """Calibration and the operating threshold, both fitted on the validation split and
    exported inside the graph. ``calibration``: ``temperature`` divides the logits by one
    fitted temperature, ``platt`` (two classes) fits a slope and an intercept on the logit
    difference, ``auto`` is platt for two classes and temperature for more, ``none`` keeps the
    network's own probabilities. ``threshold`` applies to two-class pipelines only."""

    calibration: Literal["auto", "temperature", "platt", "none"] = "auto"
    threshold: Threshold = Threshold()


class Promotion(Strict):
    """The promotion lock: how long an operation waits for another's open intent, and after
    how long an intent whose owner cannot be checked (another host) is taken as abandoned."""

    lock_wait_seconds: float = Field(600.0, gt=0)
    stale_intent_seconds: float = Field(900.0, gt=0)


class Freshness(Strict):
    """When silence is an alert: a source's newest partition older than its cadence plus
    ``slack_hours``, the newest label partition older than a day plus ``slack_hours``, or the
    champion trained on data older than ``champion_max_age_days``."""

    slack_hours: float = Field(36.0, gt=0)
    champion_max_age_days: float = Field(14.0, gt=0)


class Deadlines(Strict):
    """A run still unfinished this many hours after it was queued pages on-call (the DAGs'
    ``DeadlineAlert``). The data run includes the landing sensor's wait
    (``landing.deadline_hours``), so its deadline is longer."""

    data_hours: float = Field(12.0, gt=0)
    training_hours: float = Field(4.0, gt=0)


class Alerts(Strict):
    """Alert routes: each names an Airflow connection id; unset connections go to the outbox.

    A failure alert is sent once per (DAG, task, exception type, innermost project line) until
    the DAG's next successful run resolves it, or again after ``renotify_hours``.
    """

    on_call: str = "jandi_on_call"
    data_engineering: str = "jandi_data_eng"
    ml_owners: str = "jandi_ml_owners"
    team: str = "jandi_team"
    renotify_hours: float = Field(24.0, gt=0)
    runbook_url: str = "docs/runbook.md"  # a URL in production (the repository's page)
    freshness: Freshness = Freshness()
    deadlines: Deadlines = Deadlines()


class Tasks(Strict):
    """Retries of transient errors (data problems are never retried)."""

    retries: int = Field(3, ge=0)
    retry_delay_seconds: float = Field(30.0, gt=0)
    max_retry_delay_seconds: float = Field(600.0, gt=0)


class Sample(Strict):
    """The sample generator's knobs (the pipeline ignores them)."""

    entities: int = Field(500, ge=10)
    seed: int = 7
    signal: float = Field(1.0, gt=0)  # scales the label's dependence on the features


class PipelineConfig(Strict):
    """One pipeline, completely: data, contract, checks, features, models, gates, alerts."""

    pipeline: Identifier
    description: str = ""
    start_date: dt.date = dt.date(2026, 1, 1)
    dataset: Dataset
    landing: Landing = Landing()
    expectations: list[Expectation] = []
    features: Features = Features()
    training: Training = Training()
    models: list[ModelSpec] = [ModelSpec(name="mlp", layers=[Layer(units=32), Layer(units=16)])]
    gates: Gates = Gates()
    evaluation: Evaluation = Evaluation()
    promotion: Promotion = Promotion()
    tasks: Tasks = Tasks()
    alerts: Alerts = Alerts()
    sample: Sample = Sample()

    @model_validator(mode="after")
    def _references(self) -> PipelineConfig:
        sources = {s.name for s in self.dataset.sources} | {self.dataset.label.name}
        for i, exp in enumerate(self.expectations):
            if exp.source not in sources:
                raise ValueError(f"expectations[{i}].source {exp.source!r} is not a source")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        classes = self.dataset.label.classes
        if len(classes) > 2 and self.evaluation.calibration == "platt":
            raise ValueError(
                f"evaluation.calibration: platt is for two classes; dataset.label.classes has "
                f"{len(classes)}: use temperature (or auto)"
            )
        for i, model in enumerate(self.models):
            weights = model.class_weight if isinstance(model.class_weight, dict) else {}
            unknown = [c for c in weights if c not in classes]
            if unknown:
                raise ValueError(
                    f"models[{i}].class_weight names {unknown}, not classes of "
                    f"dataset.label.classes {classes}"
                )
        return self

    def source(self, name: str) -> FeatureSource:
        """The feature source called ``name`` (KeyError naming the known ones otherwise)."""
        for src in self.dataset.sources:
            if src.name == name:
                return src
        raise KeyError(
            f"no feature source {name!r}; known: {[s.name for s in self.dataset.sources]}"
        )

    @property
    def source_names(self) -> list[str]:
        """Every landing source: the feature sources, then the label source unless the label
        is a column of a feature source."""
        label = [] if self.dataset.label.inline else [self.dataset.label.name]
        return [s.name for s in self.dataset.sources] + label

    @property
    def offline_sources(self) -> list[str]:
        """Every source with offline partitions: the feature sources, then the labels."""
        return [s.name for s in self.dataset.sources] + [self.dataset.label.name]

    @property
    def feature_columns(self) -> list[Column]:
        """Every feature column, in source order then column order (the model's input order)."""
        return [c for s in self.dataset.sources for c in s.columns]


# Deployment settings (DESIGN §7): the same for every pipeline of one deployment, so they live
# outside PipelineConfig and are read from the environment over these defaults.


def _from_env(names: dict[str, str]) -> dict[str, str]:
    import os

    return {field: os.environ[var] for field, var in names.items() if os.environ.get(var)}


class Timeouts(Strict):
    """Connect and read bounds of every network client (Redis, PostgreSQL, MLflow, S3, REST).

    Environment: ``R2P_CONNECT_TIMEOUT``, ``R2P_READ_TIMEOUT``, ``R2P_STATEMENT_TIMEOUT``,
    ``R2P_NETWORK_RETRIES``, ``R2P_RETRY_BACKOFF`` (seconds, or a count for retries). A hung
    dependency fails an operation after at most :meth:`bound` seconds.
    """

    connect_timeout: float = Field(5.0, gt=0)  # TCP connect (and TLS handshake)
    read_timeout: float = Field(60.0, gt=0)  # waiting for one reply
    statement_timeout: float = Field(120.0, gt=0)  # PostgreSQL's server-side statement_timeout
    network_retries: int = Field(2, ge=0)  # retries of a network error; 0 = one attempt only
    retry_backoff: float = Field(0.5, ge=0)  # first backoff; doubles per retry

    ENV: ClassVar[dict[str, str]] = {
        "connect_timeout": "R2P_CONNECT_TIMEOUT",
        "read_timeout": "R2P_READ_TIMEOUT",
        "statement_timeout": "R2P_STATEMENT_TIMEOUT",
        "network_retries": "R2P_NETWORK_RETRIES",
        "retry_backoff": "R2P_RETRY_BACKOFF",
    }

    @classmethod
    def from_env(cls) -> Timeouts:
        """The defaults above, overridden by the environment variables named in ``ENV``."""
        return cls(**_from_env(cls.ENV))

    def bound(self) -> float:
        """The longest one client operation may block on a dependency that never answers:
        every attempt times out on connect plus read, with the backoffs in between."""
        attempts = self.network_retries + 1
        backoffs = sum(self.retry_backoff * 2**i for i in range(self.network_retries))
        return attempts * (self.connect_timeout + self.read_timeout) + backoffs


class Backends(Strict):
    """Where Feast keeps its registry and online values (MLflow: ``MLFLOW_TRACKING_URI``).

    Unset means the embedded default under ``R2P_HOME`` (file registry, SQLite online store).
    ``R2P_FEAST_ONLINE_STORE``: ``redis://[:password@]host:port/db[?key_prefix=p]`` (or
    ``rediss://``); ``R2P_FEAST_REGISTRY``: ``postgresql://user@host:port/database``.
    """

    feast_online_store: str | None = None
    feast_registry: str | None = None

    ENV: ClassVar[dict[str, str]] = {
        "feast_online_store": "R2P_FEAST_ONLINE_STORE",
        "feast_registry": "R2P_FEAST_REGISTRY",
    }

    @field_validator("feast_online_store")
    @classmethod
    def _online_scheme(cls, v: str | None) -> str | None:
        if v is not None and v != "sqlite" and not v.startswith(("redis://", "rediss://")):
            raise ValueError(f"R2P_FEAST_ONLINE_STORE must be sqlite or redis://..., got {v!r}")
        return v

    @field_validator("feast_registry")
    @classmethod
    def _registry_scheme(cls, v: str | None) -> str | None:
        if v is not None and v != "file" and not v.startswith("postgresql"):
            raise ValueError(f"R2P_FEAST_REGISTRY must be file or postgresql://..., got {v!r}")
        return v

    @classmethod
    def from_env(cls) -> Backends:
        """The backends the environment selects (see the class docstring)."""
        return cls(**_from_env(cls.ENV))
