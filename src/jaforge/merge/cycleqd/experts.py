"""CycleQD's starting models: the task data, the experts (given, or tuned from the base by
`jaforge sft` runs in parallel through `jaforge.executor`), and the baselines merged from the
experts (plain task arithmetic and a linear average, by the merge stage).

    data = prepare_data(cfg)                 # {task: {"train": path, "eval": path}}
    experts = prepare_experts(cfg, data)     # {task: expert model dir}
    baselines = merge_baselines(cfg, experts)  # {"task arithmetic": dir, "linear average": dir}
"""

from __future__ import annotations

import logging
from pathlib import Path

from jaforge import sft
from jaforge.config import apply_override, build
from jaforge.errors import JaforgeError
from jaforge.executor import Executor
from jaforge.merge.config import MergeConfig
from jaforge.merge.cycleqd.config import CycleQDConfig
from jaforge.merge.cycleqd.tasks import write_task_data
from jaforge.merge.stage import run as merge
from jaforge.sft.config import SFTConfig

log = logging.getLogger(__name__)


def prepare_data(cfg: CycleQDConfig) -> dict[str, dict[str, Path]]:
    out = Path(cfg.output_dir) / "data"
    return {t.name: write_task_data(t.name, out, t.eval_examples, cfg.data_dir) for t in cfg.tasks}


def sft_config(cfg: CycleQDConfig, task: str, train_path: Path) -> dict:
    """The sft run that makes `task`'s expert: its training file in the alpaca_ja template."""
    e = cfg.experts
    config = {"model": cfg.base_model, "tokenizer": cfg.base_model, "method": e.method,
              "data": {"sources": [{"name": task, "path": str(train_path.resolve()), "format": "dolly_ja"}],
                       "template": "alpaca_ja", "seq_len": e.seq_len, "packing": True, "eval_fraction": 0.1,
                       "eval_max": 8, "contamination_paths": [], "seed": e.seed},
              "lora": {"r": e.lora_r, "alpha": e.lora_alpha, "dropout": 0.0, "target_modules": list(e.target_modules)},
              "optim": {"lr": e.lr, "weight_decay": 0.0}, "schedule": {"warmup_steps": 2},
              "trainer": {"max_steps": e.steps, "batch_size": e.batch_size, "micro_batch_size": e.batch_size,
                          "checkpoint_every": e.steps, "seed": e.seed},
              "eval": {"generations": 0}, "merge": e.method == "lora"}
    for key, value in e.overrides.items():
        apply_override(config, key, value)
    return config


def expert_dir(run_dir: Path, method: str) -> Path:
    return run_dir / ("merged-hf" if method == "lora" else "hf")


DONE = "DONE"


def train_expert(job: tuple[str, dict]) -> str:
    """One expert's sft run in `directory` (skipped when it finished before); its directory."""
    directory, config = job
    if not (Path(directory) / DONE).exists():
        sft.run(build(SFTConfig, {**config, "output_dir": directory}, source=f"cycleqd expert {directory}"))
        (Path(directory) / DONE).touch()
    return directory


def prepare_experts(cfg: CycleQDConfig, data: dict[str, dict[str, Path]]) -> dict[str, Path]:
    """Every task's expert: the given directory, or an sft run of the base on the task's data."""
    study = Path(cfg.output_dir) / "experts"
    study.mkdir(parents=True, exist_ok=True)
    experts = {t.name: Path(t.expert) for t in cfg.tasks if t.expert}
    jobs = []
    for task in (t for t in cfg.tasks if not t.expert):
        config = sft_config(cfg, task.name, data[task.name]["train"])
        config["trainer"].update(progress=False, threads=cfg.executor.threads, resume="auto")
        jobs.append((task.name, (str((study / f"expert-{task.name}").resolve()), config)))
    with Executor(cfg.executor, isolate=True, log=lambda job: Path(job[0]).with_suffix(".log")) as executor:
        outcomes = list(executor.map(train_expert, jobs, keep_going=True))
    failures = [f"{o.key}: {o.error}" for o in outcomes if not o.ok]
    if failures:
        raise JaforgeError(f"tuning the experts failed: {'; '.join(failures)}")
    for outcome in outcomes:
        experts[outcome.key] = expert_dir(Path(outcome.result), cfg.experts.method)
    return experts


def merge_baselines(cfg: CycleQDConfig, experts: dict[str, Path]) -> dict[str, Path]:
    """Plain task arithmetic (θ₀ + w·Σ τₖ) and the linear average of the experts."""
    out = Path(cfg.output_dir) / "baselines"
    recipes = {
        "task arithmetic": {"merge_method": "task_arithmetic", "base_model": cfg.base_model,
                            "models": [{"model": str(d), "parameters": {"weight": cfg.task_arithmetic_weight}}
                                       for d in experts.values()]},
        "linear average": {"merge_method": "linear",
                           "models": [{"model": str(d), "parameters": {"weight": 1.0}} for d in experts.values()]},
    }
    made = {}
    for name, recipe in recipes.items():
        directory = out / name.replace(" ", "-")
        if not (directory / "result.json").exists():
            merge(build(MergeConfig, {**recipe, "output_dir": str(directory), "model_card": False}))
        made[name] = directory
    return made
