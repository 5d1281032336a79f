"""One CycleQD child in its own directory: child.json in; model/ (a Hugging Face directory),
metrics.json and DONE out. Evaluation is cached: a child whose DONE and metrics.json match its
spec is not built or scored again (a resumed run reuses every finished child).

    python -m jaforge.merge.cycleqd.children runs/cycleqd/children/g0003-c01     # what a worker runs

child.json: {"spec": ChildSpec, "base": dir, "parents": [dirs], "tasks": {name: eval file},
"mutation": [low, high] | null, "exclude": [regex], "device": "cpu", "threads": 1}. The same file
with "spec": null and "model" set scores an existing model (the experts, the base, the baselines).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

from jaforge.eval import load_backend
from jaforge.io.atomic import write_json, write_text
from jaforge.merge.cycleqd.operators import ChildSpec, child_tensor, mutation_generator
from jaforge.merge.cycleqd.tasks import score
from jaforge.merge.models import InputModel
from jaforge.merge.output import copy_tokenizer_files, write_hf_config
from jaforge.merge.tensors import ShardWriter, TensorInfo

DONE = "DONE"


def write_job(directory: Path, job: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "child.json", job)
    return directory


def cached(directory: Path, key: str) -> dict | None:
    """The metrics of a finished evaluation with this key, else None."""
    if not (directory / DONE).exists() or not (directory / "metrics.json").exists():
        return None
    saved = json.loads((directory / "metrics.json").read_text("utf-8"))
    return saved if saved.get("key") == key else None


def build_child(job: dict[str, Any], out: Path) -> Path:
    """Write the child's merged weights (tensor by tensor) with the base's config and tokenizer."""
    spec = ChildSpec(**job["spec"])
    base = InputModel.open(job["base"])
    parents = [InputModel.open(p) for p in job["parents"]]
    planned = [(n, TensorInfo(base.info(n).dtype, base.info(n).shape)) for n in base.names()]
    excluded = [re.compile(p) for p in job.get("exclude", [])]
    with ShardWriter(out, planned, 0) as writer:
        for name, _ in planned:
            mutate = job.get("mutation") and not any(p.search(name) for p in excluded)
            tensor = child_tensor(base.read(name), [p.read(name) for p in parents], spec.weights,
                                  tuple(job["mutation"]) if mutate else None,
                                  mutation_generator(spec.seed, name))
            writer.write(name, tensor)
    write_hf_config(out, base.config, planned[0][1].dtype)
    copy_tokenizer_files(base.tokenizer_dir, out, extra_from=base.path)
    return out


def evaluate(model_dir: Path, tasks: dict[str, str], device: str) -> dict[str, float]:
    backend = load_backend(str(model_dir), device=device)
    return {name: score(name, backend, Path(path)) for name, path in tasks.items()}


def run_child(directory: str | Path) -> dict[str, Any]:
    """Build (if a child) and evaluate the model of `directory`, unless cached; its metrics record."""
    directory = Path(directory)
    job = json.loads((directory / "child.json").read_text("utf-8"))
    key = ChildSpec(**job["spec"]).digest() if job.get("spec") else f"model:{job['model']}"
    found = cached(directory, key)
    if found is not None:
        return found
    torch.set_num_threads(max(1, job.get("threads", 1)))
    started = time.perf_counter()
    model_dir = build_child(job, directory / "model") if job.get("spec") else Path(job["model"])
    metrics = evaluate(model_dir, job["tasks"], job.get("device", "cpu"))
    record = {"key": key, "id": directory.name, "metrics": metrics, "model": str(model_dir),
              "seconds": round(time.perf_counter() - started, 3)}
    write_json(directory / "metrics.json", record)
    write_text(directory / DONE, time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m jaforge.merge.cycleqd.children CHILD_DIR", file=sys.stderr)
        return 2
    print(json.dumps(run_child(args[0])["metrics"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
