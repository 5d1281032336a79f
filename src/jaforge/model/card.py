"""Model cards: the README.md the Hugging Face Hub shows, written into every export and merge.

    card = model_card(ModelCardConfig(license="apache-2.0"), model_cfg, export_dir, sources)
    (export_dir / "README.md").write_text(card)

The card opens with the Hub's metadata header (YAML between `---` lines: license, language,
base_model, tags, datasets, library_name, pipeline_tag), which `huggingface_hub.ModelCard` parses,
then sections: model (architecture and parameter count), tokenizer, training data (the corpus
stage's funnel), training (tokens, steps, compute), evaluation (the eval stage's table), how to use,
intended use and limitations. Sections whose source is not given say so instead of guessing. The
licence has no default: what a model may be used for is the author's decision, so an export without
one is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from jaforge.errors import ConfigError
from jaforge.model.config import ModelConfig
from jaforge.model.counts import count_params, estimate_flops
from jaforge.paths import InputPath

DEFAULT_USE = ("Research on Japanese language models: a small model trained with jaforge, for "
               "checking pipelines, comparing recipes and teaching. Not for production use.")
DEFAULT_LIMITATIONS = ("Small models trained on little data produce fluent-looking but unreliable "
                       "text: they state false facts, repeat themselves and can reproduce biases "
                       "or personal data present in their training corpus. Evaluate a model on "
                       "your task before relying on it; do not use it for medical, legal or "
                       "financial advice.")


@dataclass
class ModelCardConfig:
    license: str = ""
    """Required: the licence of the weights as a Hub licence id (apache-2.0, mit, cc-by-4.0,
    llama3.1, other …). No default: it is the author's decision."""
    model_name: str = ""
    """Title of the card; default: the output directory's name."""
    language: list[str] = field(default_factory=lambda: ["ja"])
    """ISO 639-1 codes of the languages the model was trained on."""
    base_model: Optional[str] = None
    """The model this one was continued, tuned or merged from (a Hub id or a path)."""
    datasets: list[str] = field(default_factory=list)
    """Hub ids or names of the training datasets."""
    tags: list[str] = field(default_factory=list)
    """Extra Hub tags (jaforge and the stage's tags are always added)."""
    corpus_stats: Optional[InputPath] = None
    """The corpus stage's stats.json: the training data funnel."""
    training_run: Optional[InputPath] = None
    """The pretrain (or sft) output directory: tokens, steps and compute from its metrics.jsonl;
    default: the exported checkpoint's run directory when it has one."""
    eval_results: Optional[InputPath] = None
    """The eval stage's results.json: the evaluation table."""
    intended_use: str = DEFAULT_USE
    limitations: str = DEFAULT_LIMITATIONS


def header(cfg: ModelCardConfig, tags: list[str]) -> str:
    if not cfg.license:
        raise ConfigError("'card.license': required — the licence of the weights (e.g. apache-2.0, "
                          "cc-by-4.0, llama3.1, other); jaforge does not choose one for you")
    meta: dict[str, Any] = {"license": cfg.license, "language": list(cfg.language),
                            "library_name": "transformers", "pipeline_tag": "text-generation",
                            "tags": list(dict.fromkeys(["jaforge", *tags, *cfg.tags]))}
    if cfg.base_model:
        meta["base_model"] = cfg.base_model
    if cfg.datasets:
        meta["datasets"] = list(cfg.datasets)
    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n"


def architecture_section(model_cfg: ModelConfig) -> str:
    params = count_params(model_cfg)
    rows = [("parameters", f"{params['total']:,} ({params['non_embedding']:,} non-embedding)"),
            ("layers", model_cfg.n_layer), ("hidden size", model_cfg.d_model),
            ("attention heads (key/value heads)", f"{model_cfg.n_head} ({model_cfg.n_kv_head})"),
            ("feed-forward", f"{model_cfg.activation}, width {model_cfg.d_ff}"),
            ("positions", model_cfg.position), ("norm", f"{model_cfg.norm} ({model_cfg.norm_placement})"),
            ("context length", model_cfg.max_seq_len), ("vocabulary", model_cfg.vocab_size),
            ("tied embeddings", model_cfg.tie_embeddings)]
    return "## Model\n\nA decoder-only transformer in the Llama layout (`LlamaForCausalLM`).\n\n" + \
        _table(["", "value"], rows)


def tokenizer_section(export_dir: Path) -> str:
    path = export_dir / "tokenizer_config.json"
    if not path.exists():
        return "## Tokenizer\n\nNo tokenizer was exported with the weights.\n"
    config = json.loads(path.read_text(encoding="utf-8"))
    kind = "SentencePiece" if (export_dir / "tokenizer.model").exists() else "byte-level / BPE"
    bos = "adds `<s>` at the start of every text, as in training" if config.get("add_bos_token") \
        else "adds no BOS token"
    return (f"## Tokenizer\n\n{kind} tokenizer (`tokenizer.json`); the tokenizer {bos}; "
            f"`{config.get('eos_token', '</s>')}` ends each training document.\n")


def data_section(stats_path: Optional[str]) -> str:
    if not stats_path:
        return "## Training data\n\nNot recorded with this export.\n"
    stats = json.loads(Path(stats_path).read_text(encoding="utf-8"))
    steps = stats.get("steps", {})
    rows = [(name, s.get("docs_in", ""), s.get("docs_out", ""), s.get("chars_out", ""))
            for name, s in steps.items() if isinstance(s, dict)]
    return ("## Training data\n\nThe corpus stage's funnel (documents kept at each step):\n\n"
            + _table(["step", "documents in", "documents out", "characters out"], rows))


def training_section(run_dir: Optional[Path], model_cfg: ModelConfig) -> str:
    metrics = run_dir / "metrics.jsonl" if run_dir else None
    if metrics is None or not metrics.exists():
        return "## Training\n\nNot recorded with this export.\n"
    rows = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
    last = next((r for r in reversed(rows) if "tokens" in r), {})
    tokens = int(last.get("tokens", 0))
    seq_len = min(model_cfg.max_seq_len, 2048)
    flops = estimate_flops(model_cfg, seq_len)["train_per_token"] * tokens
    facts = [("steps", last.get("step", "")), ("training tokens", f"{tokens:,}"),
             ("compute (estimated)", f"{flops:.3g} FLOPs"),
             ("final training loss", _number(last.get("loss"))),
             ("last validation loss", _number(next((r["val_loss"] for r in reversed(rows) if "val_loss" in r), None)))]
    return "## Training\n\n" + _table(["", "value"], facts)


def evaluation_section(results_path: Optional[str]) -> str:
    if not results_path:
        return "## Evaluation\n\nNo evaluation was recorded with this export.\n"
    results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    tasks = results.get("results", {})
    metrics = list(dict.fromkeys(m for r in tasks.values() for m, v in r.items()
                                 if isinstance(v, (int, float)) and m not in ("n", "seconds")))
    rows = [(task, *[_number(r.get(m)) for m in metrics]) for task, r in tasks.items()]
    shots = results.get("shots")
    intro = f"{shots}-shot, " if shots is not None else ""
    return (f"## Evaluation\n\n{intro}scored by `jaforge eval` (lm-evaluation-harness conventions):\n\n"
            + _table(["task", *metrics], rows))


def usage_section(name: str) -> str:
    return ("## How to use\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
            f"tokenizer = AutoTokenizer.from_pretrained(\"{name}\")\n"
            f"model = AutoModelForCausalLM.from_pretrained(\"{name}\")\n"
            "inputs = tokenizer(\"日本の首都は\", return_tensors=\"pt\")\n"
            "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=32)[0]))\n```\n\n"
            f"or `jaforge generate --model {name} --prompts '[日本の首都は]'`.\n")


def model_card(cfg: ModelCardConfig, model_cfg: ModelConfig, export_dir: Path,
               run_dir: Optional[Path] = None, tags: tuple[str, ...] = (), extra: str = "") -> str:
    """The README.md text for the model exported into `export_dir`."""
    name = cfg.model_name or export_dir.name
    training_dir = Path(cfg.training_run) if cfg.training_run else run_dir
    parts = [header(cfg, list(tags)), f"# {name}\n",
             "Trained with [jaforge](https://github.com/), a Japanese-first LLM toolkit.\n",
             architecture_section(model_cfg), tokenizer_section(export_dir),
             data_section(cfg.corpus_stats), training_section(training_dir, model_cfg),
             evaluation_section(cfg.eval_results), extra, usage_section(name),
             f"## Intended use\n\n{cfg.intended_use}\n", f"## Limitations\n\n{cfg.limitations}\n"]
    return "\n".join(p for p in parts if p)


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("–" if value is None else str(value))


def _table(columns: list[str], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
