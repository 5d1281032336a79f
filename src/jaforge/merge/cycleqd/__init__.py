"""CycleQD (Kuroki et al., 2024): a quality-diversity search over merges of task experts, runnable
on a laptop with tiny experts.

    jaforge cycleqd --config recipes/cycleqd-tiny.yaml

Modules: `config`, `tasks` (task data and metrics), `experts` (experts tuned by `jaforge sft` through
the explore executors; task-arithmetic and linear baselines), `archive` (one MAP-Elites grid per
task), `operators` (parent selection, crossover, SVD mutation), `children` (build + score one child,
cached), `launcher` (inline / local processes / Ray), `report` (heatmaps, tables, verdict), `stage`
(the stage). The config imports no torch.
"""

from __future__ import annotations

from jaforge.merge.cycleqd.config import CycleQDConfig
from jaforge.merge.cycleqd.stage import run

__all__ = ["CycleQDConfig", "run"]
