"""Model merging through jaforge side by side with mergekit (`mergekit-yaml`), same recipes.

    python benchmarks/merge.py [--quick] [--rounds 3] [--methods ties,linear,slerp,nuslerp,breadcrumbs_ties]

Input: a random Llama-shaped Hugging Face model (safetensors, float32; 8 layers, width 512, GQA,
SwiGLU 1408, vocabulary 32 000, untied head: ~57M parameters, 228 MB) and three "fine-tuned"
variants (the base plus Gaussian noise), built here with transformers. Recipes in mergekit's YAML:
ties (base + 3 models, density 0.5, per-model weights), linear (3 models), slerp (base + 1, a t
gradient over depth), nuslerp (base + 2, weights 0.6/0.4) and breadcrumbs_ties (base + 3, density
0.5, gamma 0.01). `--quick`: width 128, 2 layers, vocabulary 4000 (~1.6M parameters).

Same answers first: every merged tensor of jaforge's output must equal mergekit's within 1e-6, else
the run fails. Then alternating runs (A B, B A, …), each tool in a fresh process (`jaforge merge
--config R` and mergekit's `mergekit-yaml R OUT` command run in-process by a worker, with the
options its README shows for CPU: none), timed from the command's start to its end (imports of the
tool excluded, model loading and writing included); peak RSS is the worker's VmHWM. Ratio = mergekit
seconds / jaforge seconds. Writes benchmarks/results/merge.json; the last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import ratio_stats  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "merge.json"
FULL = dict(vocab_size=32000, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
            num_attention_heads=8, num_key_value_heads=4)
QUICK = dict(vocab_size=4000, hidden_size=128, intermediate_size=352, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2)
TOLERANCE = 1e-6


def build_models(work: Path, shape: dict) -> dict[str, Path]:
    """The base and three noisy variants, as HF directories (no tokenizer: both tools skip it)."""
    import torch
    import transformers
    from safetensors.torch import load_file, save_file

    config = transformers.LlamaConfig(**shape, max_position_embeddings=512, tie_word_embeddings=False)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(str(work / "base"))
    paths = {"base": work / "base"}
    state = load_file(str(work / "base" / "model.safetensors"))
    for i in (1, 2, 3):
        out = work / f"ft{i}"
        shutil.copytree(work / "base", out)
        gen = torch.Generator().manual_seed(i)
        save_file({k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in state.items()},
                  str(out / "model.safetensors"), metadata={"format": "pt"})
        paths[f"ft{i}"] = out
    return paths


def recipes(paths: dict[str, Path]) -> dict[str, dict]:
    b, m = str(paths["base"]), [str(paths[f"ft{i}"]) for i in (1, 2, 3)]
    return {
        "ties": {"merge_method": "ties", "base_model": b, "parameters": {"density": 0.5, "normalize": True},
                 "models": [{"model": m[0], "parameters": {"weight": 1.0}},
                            {"model": m[1], "parameters": {"weight": 0.6}},
                            {"model": m[2], "parameters": {"weight": 0.3}}]},
        "linear": {"merge_method": "linear", "models": [{"model": x, "parameters": {"weight": w}}
                                                        for x, w in zip(m, (0.5, 0.3, 0.2))]},
        "slerp": {"merge_method": "slerp", "base_model": b, "parameters": {"t": [0.0, 0.5, 0.3, 1.0]},
                  "models": [{"model": b}, {"model": m[0]}]},
        "nuslerp": {"merge_method": "nuslerp", "base_model": b,
                    "models": [{"model": m[0], "parameters": {"weight": 0.6}}, {"model": m[1], "parameters": {"weight": 0.4}}]},
        "breadcrumbs_ties": {"merge_method": "breadcrumbs_ties", "base_model": b,
                             "parameters": {"density": 0.5, "gamma": 0.01},
                             "models": [{"model": x, "parameters": {"weight": w}} for x, w in zip(m, (1.0, 0.6, 0.3))]},
    }


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker(tool: str, recipe: str, out: str) -> None:
    """One merge in this process; prints seconds and peak RSS as JSON."""
    import torch

    torch.set_num_threads(1)
    if tool == "jaforge":
        from jaforge.cli import main as jaforge_main

        start = time.perf_counter()
        code = jaforge_main(["merge", "--config", recipe, "--output_dir", out, "--card.license", "apache-2.0"])
    else:
        from mergekit.scripts.run_yaml import main as mergekit_main

        start = time.perf_counter()
        code = mergekit_main.main(args=[recipe, out, "--quiet"], standalone_mode=False) or 0
    seconds = time.perf_counter() - start
    if code:
        raise SystemExit(f"{tool} failed with exit code {code}")
    print(json.dumps({"seconds": seconds, "max_rss_mb": peak_rss_mb()}))


def timed_run(tool: str, recipe: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{REPO / 'src'}:{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, __file__, "--worker", tool, "--recipe", str(recipe), "--out", str(out)],
                          capture_output=True, text=True, check=False, cwd=REPO, env=env)
    if done.returncode:
        raise RuntimeError(f"{tool} worker failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def tensors(directory: Path) -> dict:
    from safetensors.torch import load_file

    state = {}
    for path in sorted(directory.glob("*.safetensors")):
        state.update(load_file(str(path)))
    return state


def same_answers(recipe: Path, work: Path) -> dict:
    timed_run("jaforge", recipe, work / "check-jaforge")
    timed_run("mergekit", recipe, work / "check-mergekit")
    ours, theirs = tensors(work / "check-jaforge"), tensors(work / "check-mergekit")
    same_names = set(ours) == set(theirs)
    worst = max((ours[k] - theirs[k]).abs().max().item() for k in ours) if same_names else float("inf")
    shutil.rmtree(work / "check-jaforge"), shutil.rmtree(work / "check-mergekit")
    return {"tensors": len(ours), "max_abs_diff": worst, "tolerance": TOLERANCE,
            "ok": same_names and worst <= TOLERANCE}


def machine() -> dict[str, Any]:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": cpu, "torch_threads": 1, "torch": torch.__version__,
            "load_average": os.getloadavg()}


def measure(method: str, recipe: Path, work: Path, rounds: int) -> dict:
    check = same_answers(recipe, work)
    if not check["ok"]:
        raise SystemExit(f"{method}: jaforge and mergekit disagree: {check}")
    tools = ["jaforge", "mergekit"]
    runs: dict[str, list] = {t: [] for t in tools}
    for r in range(rounds):
        for tool in tools[r % 2:] + tools[:r % 2]:
            runs[tool].append(timed_run(tool, recipe, work / f"out-{tool}"))
    seconds = {t: [x["seconds"] for x in runs[t]] for t in tools}
    rss = {t: max(x["max_rss_mb"] for x in runs[t]) for t in tools}
    return {"check": check, "seconds": seconds, "max_rss_mb": rss,
            "ratio": ratio_stats(seconds["mergekit"], seconds["jaforge"]),
            "rss_ratio": rss["mergekit"] / rss["jaforge"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small models, 1 round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", default="ties,linear,slerp,nuslerp,breadcrumbs_ties")
    parser.add_argument("--worker"), parser.add_argument("--recipe"), parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.recipe, args.out)
    import mergekit  # noqa: F401  (fail early when the peer is missing)
    from importlib.metadata import version

    import yaml

    shape = QUICK if args.quick else FULL
    rounds = 1 if args.quick else args.rounds
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = build_models(work, shape)
        size_mb = (paths["base"] / "model.safetensors").stat().st_size / 2**20
        for method in args.methods.split(","):
            recipe = work / f"{method}.yml"
            recipe.write_text(yaml.safe_dump(recipes(paths)[method]), encoding="utf-8")
            results[method] = measure(method, recipe, work, rounds)
    params = round(size_mb * 2**20 / 4 / 1e6, 1)
    inputs = {"model": shape, "parameters_millions": params, "model_mb": round(size_mb, 1), "dtype": "float32",
              "recipes": "ties (base + 3, density 0.5), linear (3), slerp (base + 1, t gradient), "
                         "nuslerp (base + 2), breadcrumbs_ties (base + 3, density 0.5, gamma 0.01)",
              "rounds": rounds, "small_input": args.quick}
    ratios = {m: r["ratio"]["median"] for m, r in results.items()}
    all_ratios = [x for r in results.values() for x in (m / j for m, j in zip(r["seconds"]["mergekit"], r["seconds"]["jaforge"]))]
    summary = {"benchmark": "merge", "peer": f"mergekit {version('mergekit')}",
               "same_answers": all(r["check"]["ok"] for r in results.values()),
               "ratio_median": statistics.median(all_ratios), "ratio_min": min(all_ratios),
               "ratio_max": max(all_ratios), "ratios": ratios,
               "rss_ratios": {m: round(r["rss_ratio"], 2) for m, r in results.items()}, "inputs": inputs}
    print(f"{'method':<8} {'tool':<9} {'median s':>9} {'peak RSS MB':>12}")
    for method, r in results.items():
        for tool in ("jaforge", "mergekit"):
            print(f"{method:<8} {tool:<9} {statistics.median(r['seconds'][tool]):>9.2f} {r['max_rss_mb'][tool]:>12.0f}")
        print(f"{method:<8} ratio mergekit/jaforge: time {r['ratio']['median']:.2f} (min {r['ratio']['min']:.2f}, "
              f"max {r['ratio']['max']:.2f}), peak RSS {r['rss_ratio']:.2f}; max tensor diff {r['check']['max_abs_diff']:.1e}")
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({**summary, "results": results, "machine": machine()}, indent=1),
                           encoding="utf-8")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
