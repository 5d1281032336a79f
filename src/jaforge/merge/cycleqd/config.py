"""CycleQD's config: the base, the task experts (given or tuned by `jaforge sft`), the tasks and
their metrics, the archives, the operators, the executor. No torch is imported here.

    jaforge cycleqd --config recipes/cycleqd-tiny.yaml --generations 40

Kuroki et al., 2024 (https://arxiv.org/abs/2410.14735): one archive per task, whose quality is that
task's metric and whose behaviour descriptor is the other tasks' metrics, binned; the quality task
cycles every generation; children are merges of parents' task vectors with random weights, mutated
along the parents' singular directions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge, Gt, Le, MinLen

from jaforge.executor import ExecutorConfig


@dataclass
class TaskSettings:
    name: str
    """A registered task: jnli (gold-label probability), jsquad (answer probability), instruct
    (1 / response perplexity)."""
    eval_examples: Annotated[int, Ge(1)] = 40
    """Held-out examples scored per model."""
    expert: str = ""
    """This task's expert (HF or jaforge model directory); empty: tuned from `base_model` by `jaforge sft`."""


@dataclass
class ExpertTuning:
    steps: Annotated[int, Ge(1)] = 40
    """Optimiser steps of each expert's sft run."""
    method: Literal["lora", "full"] = "lora"
    """lora (merged into the base afterwards) or full tuning."""
    lr: Annotated[float, Gt(0)] = 3e-3
    batch_size: Annotated[int, Ge(1)] = 8
    seq_len: Annotated[int, Ge(16)] = 256
    lora_r: Annotated[int, Ge(1)] = 16
    lora_alpha: Annotated[float, Gt(0)] = 32.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                               "up_proj", "down_proj"])
    """Layers LoRA adapts."""
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    """Any other SFTConfig keys, dotted (`trainer.threads: 2`)."""


@dataclass
class CrossoverSettings:
    mean: float = 1.0
    """Mean of the weights wᵢ ~ N(mean, std) of the parents' task vectors (child: θ₀ + Σ wᵢτᵢ / Σ wᵢ)."""
    std: Annotated[float, Ge(0)] = 0.1
    """Spread of the weights."""


@dataclass
class MutationSettings:
    enabled: bool = True
    """Perturb each child along the singular directions of its parents' task vectors."""
    low: float = -0.1
    """Each singular value is scaled by (1 + ε), ε ~ U(low, high)."""
    high: float = 0.1
    exclude: list[str] = field(default_factory=lambda: ["norm"])
    """Regular expressions of tensors not mutated (1-D tensors never are)."""


@dataclass
class CycleQDConfig:
    base_model: str = "runs/lifecycle-tiny/hf"
    """θ₀: the model every expert was tuned from (a Hugging Face Llama directory)."""
    tasks: Annotated[list[TaskSettings], MinLen(2)] = field(default_factory=lambda: [
        TaskSettings("jnli"), TaskSettings("jsquad"), TaskSettings("instruct")])
    """The skills, one archive each."""
    experts: ExpertTuning = field(default_factory=ExpertTuning)
    """How experts not given are tuned."""
    generations: Annotated[int, Ge(0)] = 12
    """Generations; the quality task of generation g is tasks[g mod K]."""
    children: Annotated[int, Ge(1)] = 4
    """Children made and evaluated per generation."""
    bins: Annotated[int, Ge(1)] = 15
    """Bins per behaviour axis (the paper: 15)."""
    ranges: dict[str, list[float]] = field(default_factory=dict)
    """Metric range binned per task ({jnli: [0.3, 0.6]}); a task not listed: [0, (1 + range_margin)
    × the best score of the base and the experts on it]."""
    range_margin: Annotated[float, Ge(0)] = 0.5
    """Room above the best starting score in automatic ranges, as a share of it."""
    sampling: Literal["uniform", "elite"] = "elite"
    """Parents: uniformly from the archive's elites, or biased to high quality and high descriptors."""
    crossover: CrossoverSettings = field(default_factory=CrossoverSettings)
    mutation: MutationSettings = field(default_factory=MutationSettings)
    task_arithmetic_weight: Annotated[float, Gt(0), Le(10)] = 1.0
    """Weight of every expert's task vector in the plain task-arithmetic baseline."""
    seed: int = 0
    """Seed of parent draws, crossover weights and mutations (per generation; resumes exactly)."""
    executor: ExecutorConfig = field(default_factory=lambda: ExecutorConfig(kind="local", workers=2, threads=1))
    """Where children are built and evaluated: inline, local processes or Ray."""
    keep_models: Literal["elites", "all"] = "elites"
    """Delete the weights of children that no archive holds (their metrics stay)."""
    device: str = "cpu"
    """torch device of evaluation."""
    data_dir: Optional[str] = None
    """JGLUE files (jnli-v1.1/, jsquad-v1.1/ as released); default: jaforge's embedded samples."""
    output_dir: str = "runs/cycleqd"
    """experts/, data/, children/, archives/, baselines/, state.json, report.md, result.json."""
