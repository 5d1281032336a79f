"""One run of a study, in its own directory: trial.json in, the stage's outputs + result.json + DONE out.

    run_trial("runs/explore/runs/<run-id>")     # what the executor calls, in a fresh process

`write_trial` lays out the directory; `run_trial` trains it with the pretrain or the sft stage
(resuming from its newest checkpoint if a killed study left one), scores a pretrain run's final
model on the study's eval tasks (if any), summarises its metrics into result.json and writes the
DONE marker last, so a restarted study skips exactly the runs that finished.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from jaforge import sft
from jaforge.config import build
from jaforge.explore.budget import shape_summary
from jaforge.eval.config import GenerationConfig
from jaforge.eval.loading import load_backend
from jaforge.eval.runner import evaluate_tasks
from jaforge.explore.space import Trial
from jaforge.extras import require
from jaforge.io.atomic import write_json
from jaforge.sft.config import SFTConfig
from jaforge.train import run as pretrain
from jaforge.train.config import PretrainConfig
from jaforge.train.continual import trained_model_config
from jaforge.train.metrics import read_metrics

DONE = "DONE"


def run_dir(study_dir: str | Path, run_id: str) -> Path:
    return Path(study_dir) / "runs" / run_id


def is_done(directory: str | Path) -> bool:
    return (Path(directory) / DONE).exists()


def write_trial(trial: Trial, study_dir: str | Path, threads: int, cleanup: dict[str, bool],
                stage: str = "pretrain", evaluate: Optional[dict] = None) -> Path:
    """Create runs/<run-id>/trial.json: the stage, its config and what the study needs back."""
    directory = run_dir(study_dir, trial.run_id)
    directory.mkdir(parents=True, exist_ok=True)
    config = json.loads(json.dumps(trial.config))
    config["output_dir"] = str(directory)
    trainer = config.setdefault("trainer", {})
    trainer.update(progress=False, threads=threads, resume="auto")
    write_json(directory / "trial.json", {
        "run_id": trial.run_id, "labels": trial.labels, "overrides": trial.overrides,
        "seed": trial.seed, "budget": trial.budget, "point": trial.point,
        "stage": stage, "config": config, "cleanup": cleanup, "evaluate": evaluate or {}})
    return directory


def summarise_metrics(rows: list[dict]) -> dict[str, Any]:
    """Final and best value of every validation column, the forgetting (final − best), the curve,
    and the step-0 values (`start`: the base model of a continual run) when the run logged them."""
    evals = [r for r in rows if "val_loss" in r]
    keys = sorted({k for r in evals for k in r if k.startswith("val_loss")})
    final = {k: evals[-1][k] for k in keys if k in evals[-1]} if evals else {}
    best = {k: min(r[k] for r in evals if k in r) for k in keys}
    start = {k: evals[0][k] for k in keys if k in evals[0]} if evals and evals[0]["step"] == 0 else {}
    return {"final": final, "best": best, "start": start,
            "forgetting": {k: final[k] - best[k] for k in keys if k in final},
            "curve": [{"step": r["step"], **{k: r[k] for k in keys if k in r}} for r in evals],
            "train_loss": rows[-1]["loss"] if rows else None,
            "steps": rows[-1]["step"] if rows else 0}


def run_trial(directory: str | Path) -> dict[str, Any]:
    """Train the run in `directory` (unless DONE) and return its result."""
    directory = Path(directory)
    if is_done(directory):
        return json.loads((directory / "result.json").read_text("utf-8"))
    spec = json.loads((directory / "trial.json").read_text("utf-8"))
    torch = require("torch", "train", "explore runs")
    torch.set_num_threads(max(1, spec["config"].get("trainer", {}).get("threads", 1)))
    started = time.perf_counter()
    train = train_sft if spec.get("stage") == "sft" else train_pretrain
    result = {"run_id": spec["run_id"], "labels": spec["labels"], "overrides": spec["overrides"],
              "seed": spec["seed"], "budget": spec["budget"], **train(spec, directory),
              "wall_s": time.perf_counter() - started}
    _clean(directory, spec.get("cleanup", {}))
    write_json(directory / "result.json", result)
    (directory / DONE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n", encoding="utf-8")
    return result


def train_pretrain(spec: dict[str, Any], directory: Path) -> dict[str, Any]:
    """A pretrain run: its shape (params, tokens, FLOPs) and validation-loss summary."""
    cfg = build(PretrainConfig, spec["config"], source=str(directory / "trial.json"))
    pretrain(cfg)
    rows = read_metrics(directory / "metrics.jsonl")
    shape = shape_summary(replace(cfg, model=trained_model_config(cfg)))  # init_from: the base's
    if rows and rows[-1].get("tokens"):  # phases with a shorter seq_len train on fewer tokens
        shape["train_flops"] *= rows[-1]["tokens"] / shape["tokens"]
        shape["tokens"] = rows[-1]["tokens"]
    scores = evaluate_run(directory, spec.get("evaluate") or {})
    return {**shape, **summarise_metrics(rows), "datasets": {d.name: d.path for d in cfg.data.datasets},
            **({"scores": scores} if scores else {})}


def evaluate_run(directory: Path, settings: dict[str, Any]) -> dict[str, float]:
    """Headline score of each eval task on the run's final model (its first dataset's tokenizer)."""
    if not settings.get("tasks"):
        return {}
    backend = load_backend(directory / "model")
    report = evaluate_tasks(backend, settings["tasks"], limit=settings.get("limit"),
                            generation=GenerationConfig(max_new_tokens=settings.get("max_new_tokens", 64)),
                            batch_size=settings.get("batch_size", 16), model_name=str(directory))
    (directory / "eval.md").write_text(report.markdown(), encoding="utf-8")
    return {name: float(score) for name, score in report.scores().items()}


def train_sft(spec: dict[str, Any], directory: Path) -> dict[str, Any]:
    """An sft run: its `after` scores (response perplexity, task scores) as the final values."""
    cfg = build(SFTConfig, spec["config"], source=str(directory / "trial.json"))
    outcome = sft.run(cfg)
    scores = json.loads((directory / "results.json").read_text("utf-8"))
    shape = dict.fromkeys(("non_embedding_params", "params", "tokens", "train_flops", "n_layer",
                           "d_model", "aspect_ratio"), 0.0)
    return {**shape, "final": scores["after"], "best": scores["after"], "before": scores["before"],
            "forgetting": {}, "curve": [], "train_loss": outcome.metrics["loss"], "steps": outcome.metrics["steps"],
            "datasets": {}}


def _clean(directory: Path, cleanup: dict[str, bool]) -> None:
    if not cleanup.get("keep_checkpoints", False):
        shutil.rmtree(directory / "checkpoints", ignore_errors=True)
    if not cleanup.get("keep_model", True):
        shutil.rmtree(directory / "model", ignore_errors=True)
