"""The explore stage's config: a base pretrain config, a search space, budget rules, seeds, metric.

    jaforge explore --config recipes/explore-depth-width.yaml --executor.workers 2

Every field is documented in place (`jaforge explore --help` lists them). The search space's keys
are dotted keys of the pretrain config (`model.n_layer`, `optim.lr`, …) or of the budget
(`budget.non_embedding_params`), so a study can vary the model size as well as its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge

from jaforge.executor import ExecutorConfig
from jaforge.paths import InputPath


@dataclass
class SpaceConfig:
    sampler: str = "grid"
    """How points are drawn: grid (every combination), random, tpe (Optuna; `jaforge[explore]`)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Dotted key → a list of choices, or a range `{low, high, log: bool, int: bool}` (random, tpe).
    A key without a dot whose choices are mappings is a bundle: each choice sets several dotted
    keys at once, and its optional `name` labels it in the report (ablations, vocabularies)."""
    trials: int = 8
    """random / tpe: points to draw (each is run once per seed)."""
    seed: int = 0
    """Seed of the random and TPE samplers."""


@dataclass
class BudgetConfig:
    non_embedding_params: Optional[float] = None
    """Hold the non-embedding parameters at this count: d_model (and the heads) are derived from
    n_layer, so a sweep over model.n_layer trades depth for width at a fixed size."""
    head_dim: int = 16
    """non_embedding_params: d_model is a multiple of this (n_head = d_model / head_dim)."""
    width_multiple: int = 16
    """non_embedding_params: d_model is also a multiple of this."""
    adjust_d_ff: bool = False
    """non_embedding_params: after choosing d_model, set d_ff (a multiple of width_multiple)
    so the count lands closer to the target than the d_model grid alone allows."""
    tolerance: float = 0.15
    """non_embedding_params: fail when the nearest shape misses the target by more than this share."""
    tokens: Optional[float] = None
    """Train on this many tokens: max_steps = tokens / (batch_size · seq_len)."""
    tokens_per_param: Optional[float] = None
    """Train on this many tokens per non-embedding parameter (Chinchilla: about 20)."""
    flops: Optional[float] = None
    """Spend this many training FLOPs (6·N-style estimate of jaforge.model.estimate_flops)."""
    warmup_fraction: Optional[float] = None
    """Set schedule.warmup_steps to this share of the derived max_steps."""


@dataclass
class MetricConfig:
    key: str = "val_loss"
    """Metrics column to compare: val_loss (mean over datasets) or val_loss/<dataset>."""
    reduce: Literal["final", "best"] = "final"
    """final: the last evaluation; best: the lowest evaluation of the run."""
    higher_is_better: bool = False
    """True for scores such as task accuracy (the best run is the highest); losses and perplexity
    are lower-is-better."""
    per: Literal["token", "char"] = "token"
    """char: divide the loss by the validation split's characters per token, so runs with different
    tokenizers compare fairly (nats per character)."""


@dataclass
class EvaluateConfig:
    tasks: list[str] = field(default_factory=list)
    """Eval tasks (`jaforge eval` names: jnli, marc_ja, …, translation_en_ja) scored on each
    pretrain run's final model; empty: none. Their headline scores join the run's results as
    `score/<task>` (the tokenizer is the one of the run's first dataset)."""
    limit: Optional[Annotated[int, Ge(1)]] = None
    """Examples per task (the first ones); None: all."""
    max_new_tokens: Annotated[int, Ge(1)] = 64
    """Generation budget of generation tasks (greedy)."""
    batch_size: Annotated[int, Ge(1)] = 16
    """Contexts per forward pass."""


@dataclass
class Expectation:
    """A published finding to hold a measured effect against (arm − reference)."""
    arm: str
    """The arm's label (a bundle's name)."""
    measure: str
    """A measure of the effects table (val_loss_per_char/ja, vs_base/val_loss/en, score/jnli …)."""
    direction: Literal["higher", "lower", "not higher", "not lower"]
    """What the finding predicts for arm − reference."""
    source: str = ""
    """The finding, quoted in the report (e.g. 'Swallow: expansion costs no accuracy')."""


@dataclass
class ReportConfig:
    enabled: bool = True
    """Write report.md, report.html and the plots after the runs."""
    extrapolate_to: float = 1e10
    """Non-embedding parameters to extrapolate the aspect-ratio trend and the power law to."""
    bootstrap: int = 200
    """Bootstrap resamples for the uncertainty bands."""
    title: str = ""
    """Report title (default: the study directory's name)."""
    reference: Optional[str] = None
    """The arm (a label, e.g. a bundle's name) every other arm is compared with: the report adds
    an effects table, each measure's difference from it as mean ± standard error over seeds
    (paired by seed where both arms ran the same seeds), and its direction beyond 2 s.e."""
    measures: list[str] = field(default_factory=list)
    """Columns of the effects table: val_loss/<d>, val_loss_per_char/<d> (final),
    vs_base/<column> (final − the step-0 value, i.e. against the base), chars_per_token/<d>,
    score/<task>; empty: all there are."""
    expectations: list[Expectation] = field(default_factory=list)
    """Published findings to check: each says agrees / disagrees / inconclusive in the report."""


@dataclass
class ExploreConfig:
    base_config: Optional[InputPath] = None
    """A pretrain YAML (e.g. recipes/pretrain-tiny.yaml) the study starts from."""
    base: dict[str, Any] = field(default_factory=dict)
    """Pretrain config keys (nested mappings) laid over base_config; the trainer's output_dir is
    ignored: each run writes into <output_dir>/runs/<run-id>/."""
    stage: Literal["pretrain", "sft"] = "pretrain"
    """What each run trains. pretrain: base_config is a pretrain YAML and the metric a validation
    column (val_loss …). sft: base_config is an sft YAML (e.g. recipes/sft-tiny.yaml), the metric a
    key of the run's results.json `after` scores (ppl, ppl/<source>, <task>/acc), and budget rules
    do not apply."""
    space: SpaceConfig = field(default_factory=SpaceConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    """Each point is trained once per seed."""
    seed_keys: list[str] = field(default_factory=lambda: ["trainer.seed"])
    """Pretrain keys set to the seed (add data.seed to vary the data order too)."""
    metric: MetricConfig = field(default_factory=MetricConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    """Eval tasks run on every finished pretrain run (continual-pretraining studies)."""
    executor: ExecutorConfig = field(default_factory=lambda: ExecutorConfig(workers=2))
    """Where runs train: `local` (default: one fresh process per run, `workers` at a time, each
    with `threads` CPU threads), `inline` (in this process) or `ray`."""
    keep_checkpoints: bool = False
    """Keep each finished run's resumable checkpoints (they are deleted once the run is done)."""
    keep_model: bool = True
    """Keep each finished run's final model/ directory."""
    report: ReportConfig = field(default_factory=ReportConfig)
    output_dir: str = "runs/explore"
    """Study directory: runs/<run-id>/, results.jsonl, report.md, report.html, plots/."""
