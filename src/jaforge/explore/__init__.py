"""jaforge.explore: small-model studies with validation loss as the proxy — sweeps over any pretrain
key under budget rules, parallel resumable runs, power-law and aspect-ratio fits, reports.

    jaforge explore --config recipes/explore-depth-width.yaml --executor.workers 2
    python -c "from jaforge.explore import ExploreConfig, run; run(ExploreConfig(...))"

Modules: config (ExploreConfig), space (samplers, trials, run ids), budget (budget rules),
trial (one run directory), executors (inline, local subprocesses, Ray), study (the stage's run),
tpe (Optuna TPE, `jaforge[explore]`), chars (characters per token), fit (power laws, optima,
bootstrap), analysis (tables, aspect-ratio trend), plots, report (report.md / report.html).
Nothing heavy is imported until a study runs; torch is imported only inside the runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ExploreConfig", "run"]


def run(cfg: Any) -> Any:
    """The explore stage: run (or resume) the study described by an ExploreConfig."""
    from jaforge.explore.study import run as run_study

    return run_study(cfg)


def __getattr__(name: str) -> Any:
    if name == "ExploreConfig":
        from jaforge.explore.config import ExploreConfig

        return ExploreConfig
    raise AttributeError(f"module 'jaforge.explore' has no attribute '{name}'")
