"""jaforge.explore: small-model studies with validation loss as the proxy — sweeps over any pretrain
(or sft) key under budget rules, parallel resumable runs, power-law and aspect-ratio fits, reports.

    jaforge explore --config recipes/explore-depth-width.yaml --executor.workers 2
    python -c "from jaforge.explore import ExploreConfig, run; run(ExploreConfig(...))"

Modules: config (ExploreConfig), base (the stage config runs start from), space (samplers, trials,
run ids), budget (budget rules), trial (one run directory), study (the stage's run; runs go through
`jaforge.executor`), tpe (Optuna TPE, `jaforge[explore]`), chars (characters per token), fit (power
laws, optima, bootstrap), analysis (tables, aspect-ratio trend), effects (each arm against a
reference arm, with error bars and the papers' findings), plots, report (report.md / .html).
"""

from __future__ import annotations

from jaforge.explore.config import ExploreConfig
from jaforge.explore.study import run

__all__ = ["ExploreConfig", "run"]
