"""Bad input, every stage: a non-zero exit, one message that names the file (and line) or the config
key, no traceback, and nothing valid lost.

Each case writes what it needs into a temporary directory, runs `jaforge.cli.main` in this process
(imports are shared, so hundreds of cases take seconds, not minutes), and checks the exit code, the
message on stderr, that no traceback was printed, and that the files the case declares valuable
are byte-identical afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from jaforge.cli import main
from jaforge.stages import STAGES

from conftest import DATA


@dataclass
class Case:
    id: str
    argv: list[str]
    """Command-line words; `{tmp}` is the case's directory, `{data}` the embedded data."""
    message: str
    """A regex the one-line error must match (it names the file, line or key)."""
    exit_codes: tuple[int, ...] = (1, 2)
    setup: Callable[[Path], None] = lambda tmp: None
    keep: list[str] = field(default_factory=list)
    """Files under {tmp} that must be unchanged afterwards (nothing valid lost)."""


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def files(**contents: str | bytes) -> Callable[[Path], None]:
    """A setup that writes each `name=content` (name `a__b` is the path a/b)."""
    def setup(tmp: Path) -> None:
        for name, content in contents.items():
            write(tmp / name.replace("__", "/"), content)
    return setup


def digest(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256("".join(digest(p) + p.name for p in sorted(path.rglob("*")) if p.is_file())
                              .encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------- config

STAGE_NAMES = sorted(n for n in STAGES.names() if n not in ("lifecycle",))


def config_cases() -> list[Case]:
    """Every stage: an unknown key, a missing or broken config file, duplicate keys, bad structure."""
    cases = []
    for stage in STAGE_NAMES:
        cases += [
            Case(f"{stage}-unknown-key", [stage, "--no_such_key", "1"], r"'no_such_key'.*unknown key", (2,)),
            Case(f"{stage}-missing-config", [stage, "--config", "{tmp}/absent.yaml"],
                 r"config file not found: .*absent\.yaml", (2,)),
            Case(f"{stage}-duplicate-yaml-key", [stage, "--config", "{tmp}/c.yaml"],
                 r"c\.yaml:2: not valid YAML: the key 'a' is given twice \(lines 1 and 2\)", (2,),
                 files(**{"c.yaml": "a: 1\na: 2\n"})),
            Case(f"{stage}-invalid-yaml", [stage, "--config", "{tmp}/c.yaml"],
                 r"c\.yaml:2: not valid YAML", (2,), files(**{"c.yaml": "a: [1, 2\nb: 3\n"})),
            Case(f"{stage}-list-at-top", [stage, "--config", "{tmp}/c.yaml"],
                 r"c\.yaml: the top level must be a mapping", (2,), files(**{"c.yaml": "- 1\n- 2\n"})),
            Case(f"{stage}-base-cycle", [stage, "--config", "{tmp}/a.yaml"], r"'base' makes a cycle", (2,),
                 files(**{"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"})),
            Case(f"{stage}-dangling-option", [stage, "--output_dir"], r"'--output_dir' needs a value", (2,)),
            Case(f"{stage}-not-utf8-config", [stage, "--config", "{tmp}/c.yaml"], r"c\.yaml: not UTF-8",
                 (2,), files(**{"c.yaml": "a: 1\n".encode("utf-16")})),
        ]
    return cases


RANGES = [  # (stage, key, bad value, what the message says)
    ("tokenizer", "trainer.vocab_size", "0", ">= 8"),
    ("tokenizer", "trainer.num_threads", "-1", ">= 1"),
    ("tokenizer", "trainer.character_coverage", "1.5", "<= 1.0"),
    ("tokenizer", "holdout_fraction", "1.0", "< 1"),
    ("tokenizer", "sources", "[]", "at least 1 item"),
    ("tokenizer", "sources", "[{name: ja, paths: []}]", "at least 1 item"),
    ("tokenizer", "sources", "[{paths: [x], weight: -1}]", ">= 0"),
    ("tokenizer-measure", "max_docs", "0", ">= 1"),
    ("tokenizer-sweep", "vocab_sizes", "[]", "at least 1 item"),
    ("tokenizer-sweep", "vocab_sizes", "[1000, 4]", ">= 8"),
    ("tokenizer-expand", "num_new_tokens", "0", ">= 1"),
    ("tokenizer-expand", "min_piece_chars", "0", ">= 1"),
    ("export", "generation.max_new_tokens", "0", ">= 1"),
    ("export", "generation.top_p", "1.5", "<= 1"),
    ("generate", "limit", "0", ">= 1"),
    ("catalog", "max_params", "-1", "> 0"),
    ("corpus", "executor.workers", "-4", ">= 1"),
    ("corpus", "input.max_doc_chars", "-1", ">= 1"),
    ("corpus", "dedup.bands", "0", ">= 1"),
    ("corpus", "dedup.ngram", "0", ">= 1"),
    ("corpus", "dedup.ngram", "-3", ">= 1"),
    ("corpus", "output.format", "csv", "not one of"),
    ("tokenize-data", "val_fraction", "1.5", "< 1"),
    ("tokenize-data", "workers", "0", ">= 1"),
    ("pretrain", "trainer.batch_size", "0", ">= 1"),
    ("pretrain", "trainer.micro_batch_size", "0", ">= 1"),
    ("pretrain", "data.seq_len", "0", ">= 1"),
    ("pretrain", "trainer.max_steps", "0", ">= 1"),
    ("pretrain", "trainer.max_steps", "-5", ">= 1"),
    ("pretrain", "model.n_head", "0", ">= 1"),
    ("pretrain", "optim.lr", "0", "> 0"),
    ("pretrain", "schedule.warmup_steps", "-1", ">= 0"),
    ("pretrain", "trainer.checkpoint_every", "-1", ">= 0"),

    ("sft", "data.seq_len", "0", ">= 2"),
    ("sft", "trainer.batch_size", "0", ">= 1"),
    ("sft", "method", "qlora", "not one of"),
    ("eval", "shots", "-1", ">= 0"),
    ("eval", "limit", "-1", ">= 1"),
    ("eval", "limit", "0", ">= 1"),
    ("explore", "executor.workers", "0", ">= 1"),
    ("cycleqd", "executor.threads", "0", ">= 1"),
    ("tokenizer", "trainer.vocab_size", "many", "expected int"),
    ("tokenizer", "trainer.character_coverage", ".nan", "expected float|finite"),
    ("export", "dtype", "fp8", "not one of"),
    ("pretrain", "trainer.report_to", "[mlflow]", "not one of"),
    ("sft", "trainer.report_to", "[tensorbord]", "did you mean 'tensorboard'"),
    ("generate", "generation.top_k", "-1", ">= 0"),
]


def range_cases() -> list[Case]:
    return [Case(f"{stage}-{key}={value}", [stage, f"--{key}", value],
                 rf"{re.escape(key.split('.')[-1])}.*({what})", (2,)) for stage, key, value, what in RANGES]


# ------------------------------------------------------------------------------- input files

def tokenizer_cases() -> list[Case]:
    good = json.dumps({"id": 1, "text": "日本語の文章です。" * 20}, ensure_ascii=False) + "\n"
    return [
        Case("tokenizer-missing-input", ["tokenizer", "--sources", "[{paths: [{tmp}/none.jsonl]}]",
                                         "--output_dir", "{tmp}/out"], r"input not found.*'sources\[0\].paths\[0\]'"),
        Case("tokenizer-truncated-gz", ["tokenizer", "--sources", "[{paths: [{tmp}/t.jsonl.gz]}]",
                                        "--trainer.vocab_size", "300", "--output_dir", "{tmp}/out"],
             r"t\.jsonl\.gz", setup=lambda tmp: write(tmp / "t.jsonl.gz", gzip.compress(good.encode() * 50)[:200]),
             keep=["t.jsonl.gz"]),
        Case("tokenizer-malformed-jsonl", ["tokenizer", "--sources", "[{paths: [{tmp}/t.jsonl]}]",
                                           "--trainer.vocab_size", "300", "--output_dir", "{tmp}/out"],
             r"t\.jsonl:2", setup=files(**{"t.jsonl": good + "{not json\n"}), keep=["t.jsonl"]),
        Case("tokenizer-vocab-too-small", ["tokenizer", "--sources", f"[{{paths: [{DATA}/ja/clean/news.jsonl]}}]",
                                           "--trainer.vocab_size", "100", "--output_dir", "{tmp}/out"],
             r"'trainer.vocab_size': 100 is too small", (2,)),
        Case("tokenizer-parquet-without-text", ["tokenizer", "--sources", "[{paths: [{tmp}/t.parquet]}]",
                                                "--output_dir", "{tmp}/out"],
             r"t\.parquet: has no column 'text'", setup=_parquet_without_text, keep=["t.parquet"]),
        Case("measure-truncated-tokenizer", ["tokenizer-measure", "--tokenizer", "{tmp}/tok",
                                             "--sources", f"[{{paths: [{DATA}/ja/clean/news.jsonl]}}]",
                                             "--output_dir", "{tmp}/out"],
             r"tok/tokenizer\.json: cannot be read as a Hugging Face tokenizer\.json",
             setup=files(**{"tok__tokenizer.json": '{"version": "1.0", "model": {"type": "Uni'}),
             keep=["tok"]),
        Case("measure-missing-tokenizer", ["tokenizer-measure", "--tokenizer", "{tmp}/nothing",
                                           "--sources", f"[{{paths: [{DATA}/ja/clean/news.jsonl]}}]"],
             r"input not found.*'tokenizer': .*nothing"),
        Case("expand-corrupt-spm-model", ["tokenizer-expand", "--base_tokenizer", "{tmp}/base.model",
                                          "--sources", f"[{{paths: [{DATA}/ja/clean/news.jsonl]}}]",
                                          "--output_dir", "{tmp}/out"],
             r"base\.model: cannot be read as a SentencePiece model",
             setup=files(**{"base.model": b"\x0a\x05not a model proto\xff\xff"}), keep=["base.model"]),
        Case("expand-no-base", ["tokenizer-expand", "--sources", f"[{{paths: [{DATA}/ja/clean/news.jsonl]}}]"],
             r"'base_tokenizer'", (2,)),
    ]


def _parquet_without_text(tmp: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["日本語です。"] * 5}), tmp / "t.parquet")


def model_file_cases() -> list[Case]:
    """Export / generate: missing, truncated or corrupt model and tokenizer files."""
    return [
        Case("export-no-checkpoint", ["export", "--card.license", "mit"], r"'checkpoint'", (2,)),
        Case("export-not-a-model-dir", ["export", "--checkpoint", "{tmp}/empty", "--card.license", "mit",
                                        "--output_dir", "{tmp}/hf"], r"empty.*model_config\.json",
             setup=lambda tmp: (tmp / "empty").mkdir()),
        Case("export-truncated-weights", ["export", "--checkpoint", "{tmp}/m", "--card.license", "mit",
                                          "--output_dir", "{tmp}/hf"],
             r"m/model\.safetensors", setup=_truncated_model, keep=["m"]),
        Case("export-corrupt-model-config", ["export", "--checkpoint", "{tmp}/m", "--card.license", "mit",
                                             "--output_dir", "{tmp}/hf"],
             r"m/model_config\.json", setup=files(**{"m__model_config.json": "{\"n_layer\": ",
                                                    "m__model.safetensors": b"\x00" * 16}), keep=["m"]),
        Case("export-without-licence", ["export", "--checkpoint", "{tmp}/m", "--output_dir", "{tmp}/hf"],
             r"'card.license': required", (2,), setup=_truncated_model, keep=["m"]),
        Case("generate-no-prompts", ["generate", "--model", "{tmp}/m"], r"'prompts'|model", setup=_truncated_model),
        Case("generate-missing-model", ["generate", "--model", "{tmp}/none", "--prompts", "[a]"],
             r"input not found.*'model'"),
        Case("generate-missing-tokenizer", ["generate", "--model", "{tmp}/m", "--prompts", "[a]",
                                            "--tokenizer", "{tmp}/none", "--output_dir", "{tmp}/g"],
             r"input not found.*'tokenizer'", setup=_truncated_model, keep=["m"]),
        Case("generate-bad-prompts-file", ["generate", "--model", "{tmp}/m", "--prompts_file", "{tmp}/p.jsonl",
                                           "--output_dir", "{tmp}/g"], r"p\.jsonl:2",
             setup=lambda tmp: (_truncated_model(tmp), write(tmp / "p.jsonl", '{"prompt": "a"}\n{oops\n'))),
        Case("chat-missing-model", ["chat", "--model", "{tmp}/none"], r"input not found.*'model'"),
        Case("catalog-bad-file", ["catalog", "--path", "{tmp}/models.yaml"], r"models\.yaml",
             setup=files(**{"models.yaml": "models: 3\n"}), keep=["models.yaml"]),
    ]


def use_cases() -> list[Case]:
    """What issue 21 added: sft's model card licence and data mappings, the trackers' switches."""
    qa = "".join(json.dumps({"question": f"質問{i}", "answer": f"答え{i}"}, ensure_ascii=False) + "\n" for i in range(4))
    source = "[{name: qa, path: {tmp}/qa.jsonl, format: hf, columns: {prompt: query, response: answer}}]"
    return [
        Case("sft-merge-without-licence", ["sft", "--model", "{tmp}/m", "--merge", "true", "--output_dir", "{tmp}/out"],
             r"'card.license': required .*merge: true", (2,), setup=_truncated_model, keep=["m"]),
        Case("sft-full-without-licence", ["sft", "--model", "{tmp}/m", "--method", "full", "--output_dir", "{tmp}/out"],
             r"'card.license': required .*full tuning", (2,), setup=_truncated_model, keep=["m"]),
        Case("sft-bad-column-mapping", ["sft", "--model", "{tmp}/m", "--tokenizer", "{tmp}/tok", "--data.sources", source,
                                        "--data.contamination_paths", "[]", "--output_dir", "{tmp}/out"],
             r"'data.sources\[0\].columns.prompt': column 'query' is not in .*qa\.jsonl.*its columns: question, answer",
             (2,), setup=lambda tmp: (_truncated_model(tmp), _tokenizer(tmp / "tok"), write(tmp / "qa.jsonl", qa)),
             keep=["m", "qa.jsonl"]),
        Case("sft-unknown-column-field", ["sft", "--model", "{tmp}/m", "--tokenizer", "{tmp}/tok", "--data.sources",
                                          source.replace("prompt: query", "promt: question"),
                                          "--data.contamination_paths", "[]", "--output_dir", "{tmp}/out"],
             r"'data.sources\[0\].columns.promt': not a field; did you mean 'prompt'", (2,),
             setup=lambda tmp: (_truncated_model(tmp), _tokenizer(tmp / "tok"), write(tmp / "qa.jsonl", qa))),
        Case("pretrain-unknown-device", ["pretrain", "--trainer.device", "tpu", "--data.datasets",
                                         "[{name: ja, path: {tmp}}]", "--output_dir", "{tmp}/out"],
             r"trainer\.device.*'tpu' is not one of", (2,)),
        Case("pretrain-removed-tensorboard-flag", ["pretrain", "--trainer.tensorboard", "true", "--data.datasets",
                                                   "[{name: ja, path: {tmp}}]", "--output_dir", "{tmp}/out"],
             r"'trainer.tensorboard': removed; use 'trainer.report_to: \[tensorboard\]'", (2,)),
    ]


def _tokenizer(directory: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from jaforge.tokenizer.hf import add_special_tokens, write_tokenizer_dir

    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>", *"質問答え0123"])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split("", "isolated")
    add_special_tokens(tok, [])
    write_tokenizer_dir(tok, directory)


def _truncated_model(tmp: Path) -> None:
    config = {"vocab_size": 64, "n_layer": 1, "d_model": 16, "n_head": 2, "max_seq_len": 16}
    write(tmp / "m" / "model_config.json", json.dumps(config))
    write(tmp / "m" / "model.safetensors", b'\x40\x00\x00\x00\x00\x00\x00\x00{"blocks.0.attn')


# ------------------------------------------------------------------------- continual pretraining

def continual_cases() -> list[Case]:
    """pretrain --trainer.init_from (the base's config is read before any data), parallel-text."""
    expansion = json.dumps({"base_vocab_size": 50, "new_tokens": [{"id": 50, "piece": "日本", "old_ids": [3, 4]}]})
    cpt = ["pretrain", "--trainer.init_from", "{tmp}/m", "--output_dir", "{tmp}/cpt", "--data.datasets", "[{name: ja, path: {tmp}}]"]
    return [
        Case("pretrain-expansion-of-another-vocabulary", cpt + ["--trainer.expansion", "{tmp}/x.json"],
             r"expands a tokenizer of 50 tokens, but the trainer.init_from model .* has 64 embedding rows", (2,),
             lambda tmp: (_truncated_model(tmp), write(tmp / "x.json", expansion)), keep=["m", "x.json"]),
        Case("pretrain-malformed-expansion", cpt + ["--trainer.expansion", "{tmp}/x.json"],
             r"x\.json: .*new_tokens\[0\]", setup=lambda tmp: (_truncated_model(tmp), write(
                 tmp / "x.json", '{"base_vocab_size": 64, "new_tokens": [{"id": 3, "old_ids": []}]}')),
             keep=["m", "x.json"]),
        Case("pretrain-model-key-fixed-by-init-from", cpt + ["--model.d_model", "32"],
             r"model\.d_model 32 \(the base has 16\): trainer\.init_from .* fixes the architecture", (2,),
             _truncated_model, keep=["m"]),
        Case("pretrain-init-from-nothing", cpt, r"m: trainer\.init_from: holds neither a jaforge model",
             setup=lambda tmp: (tmp / "m").mkdir()),
        Case("parallel-text-bad-lines-only", ["parallel-text", "--input", "[{tmp}/p.jsonl]", "--output_dir",
                                              "{tmp}/out"],
             r"p\.jsonl:2: no pair could be read \(2 bad lines; the first: malformed JSON",
             setup=files(**{"p.jsonl": '\n{"en": "b",\n[1, 2]\n'}), keep=["p.jsonl"]),
        Case("parallel-text-short-tsv-row", ["parallel-text", "--input", "[{tmp}/p.tsv]", "--output_dir", "{tmp}/out"],
             r"p\.tsv:1: no pair could be read .*1 tab-separated columns, expected 2",
             setup=files(**{"p.tsv": "no tab here\n"}), keep=["p.tsv"]),
        Case("parallel-text-missing-field", ["parallel-text", "--input", "[{tmp}/p.jsonl]", "--output_dir", "{tmp}/out"],
             r"p\.jsonl:1: no pair could be read .*field 'ja' is missing",
             setup=files(**{"p.jsonl": '{"en": "a", "jp": "あ"}\n'}), keep=["p.jsonl"]),
    ]


# ------------------------------------------------------------------------------- pipelines

def pipeline_cases() -> list[Case]:
    stage = "stages:\n  tok:\n    stage: tokenizer\n    sources: [{paths: [data/ja/clean/news.jsonl]}]\n"
    return [
        Case("run-missing-recipe", ["run", "{tmp}/absent.yaml"], r"config file not found: .*absent\.yaml", (2,)),
        Case("run-no-stages", ["run", "{tmp}/r.yaml"], r"'stages'.*expected a mapping", (2,),
             files(**{"r.yaml": "output_dir: x\n"})),
        Case("run-unknown-stage", ["run", "{tmp}/r.yaml"], r"unknown stage 'tokeniser'.*did you mean", (2,),
             files(**{"r.yaml": "stages:\n  t:\n    stage: tokeniser\n"})),
        Case("run-unknown-top-key", ["run", "{tmp}/r.yaml"], r"unknown top-level key.*'stage'", (2,),
             files(**{"r.yaml": "stage: {}\n" + stage})),
        Case("run-forward-reference", ["run", "{tmp}/r.yaml"], r"\$\{later.tokenizer\} names no earlier stage",
             (2,), files(**{"r.yaml": "stages:\n  m:\n    stage: tokenizer-measure\n"
                                      "    tokenizer: ${later.tokenizer}\n" + stage.replace("stages:\n  tok:", "  later:")})),
        Case("run-bad-key-in-a-stage", ["run", "{tmp}/r.yaml", "--output_dir", "{tmp}/out"],
             r"'trainer\.vocab_sise' in .*r\.yaml \(stages\.tok\): unknown key; did you mean 'vocab_size'", (2,),
             files(**{"r.yaml": stage + "    trainer: {vocab_sise: 100}\n"})),
        Case("run-missing-input", ["run", "{tmp}/r.yaml"], r"input not found.*'stages\.tok\.sources\[0\]\.paths\[0\]'",
             (1,), files(**{"r.yaml": stage.replace("data/ja/clean/news.jsonl", "no/such.jsonl")})),
        Case("run-bad-override", ["run", "{tmp}/r.yaml", "--stages.tok.trainer.vocab_size", "0"],
             r"'trainer.vocab_size'.*out of range", (2,), files(**{"r.yaml": stage})),
        Case("run-bad-base", ["run", "{tmp}/r.yaml"], r"config file not found: .*nope\.yaml", (2,),
             files(**{"r.yaml": stage + "    base: nope.yaml\n"})),
    ]


def corpus_cases() -> list[Case]:
    good = json.dumps({"id": "a", "text": "日本語の文章です。" * 30}, ensure_ascii=False) + "\n"
    run = ["corpus", "--input.paths", "[{tmp}/in]", "--output_dir", "{tmp}/out", "--executor.progress", "false"]
    return [
        Case("corpus-no-inputs", ["corpus", "--output_dir", "{tmp}/out"], r"'input\.paths'.*at least 1 item", (2,)),
        Case("corpus-missing-input", run[:2] + ["[{tmp}/nowhere.jsonl]"] + run[3:],
             r"input not found.*'input\.paths\[0\]'"),
        Case("corpus-utf16-jsonl", run, r"in/t\.jsonl: no record could be read", (1,),
             files(**{"in__t.jsonl": (good * 3).encode("utf-16")}), keep=["in"]),
        Case("corpus-gzip-bytes-in-jsonl", run, r"in/t\.jsonl: no record could be read", (1,),
             files(**{"in__t.jsonl": gzip.compress((good * 3).encode())}), keep=["in"]),
        Case("corpus-truncated-gz", run, r"in/t\.jsonl\.gz", (1,),
             files(**{"in__t.jsonl.gz": gzip.compress((good * 200).encode())[:300]}), keep=["in"]),
        Case("corpus-fake-zst", run, r"in/t\.jsonl\.zst", (1,),
             files(**{"in__t.jsonl.zst": good.encode()}), keep=["in"]),
        Case("corpus-parquet-without-text", run, r"t\.parquet.*'text'", (1,),
             setup=lambda tmp: (tmp / "in").mkdir() or _parquet_without_text(tmp / "in"), keep=["in"]),
        Case("corpus-unknown-rule", ["corpus", "--input.paths", f"[{DATA}/ja/clean/news.jsonl]",
                                     "--quality.rules", "[{name: no_such_rule}]", "--output_dir", "{tmp}/out"],
             r"unknown (rule|filter) 'no_such_rule'", (2,)),
        Case("corpus-bad-rule-parameter", ["corpus", "--input.paths", f"[{DATA}/ja/clean/news.jsonl]",
                                           "--quality.params", "{min_length: {min_chars: -5}}",
                                           "--output_dir", "{tmp}/out"], r"min_chars", (2,)),
        Case("corpus-unknown-preset", ["corpus", "--input.paths", f"[{DATA}/ja/clean/news.jsonl]",
                                       "--quality.preset", "ja_wbe", "--output_dir", "{tmp}/out"],
             r"ja_wbe.*did you mean 'ja_web'", (2,)),
    ]


def training_cases() -> list[Case]:
    tokens = "{tmp}/tokens"
    return [
        Case("pretrain-missing-token-data", ["pretrain", "--data.datasets", "[{name: ja, path: {tmp}/none}]",
                                             "--output_dir", "{tmp}/run"], r"input not found.*none"),
        Case("pretrain-token-dir-without-meta", ["pretrain", "--data.datasets", f"[{{name: ja, path: {tokens}}}]",
                                                 "--output_dir", "{tmp}/run", "--trainer.progress", "false"],
             r"tokens.*meta\.json", setup=lambda tmp: (tmp / "tokens").mkdir()),
        Case("pretrain-truncated-init-from", ["pretrain", "--trainer.init_from", "{tmp}/m", "--data.datasets",
                                              "[{name: ja, path: {tmp}/none}]", "--output_dir", "{tmp}/run"],
             r"m/model\.safetensors|none", setup=_truncated_model, keep=["m"]),
        Case("pretrain-micro-batch-not-dividing", ["pretrain", "--trainer.batch_size", "10",
                                                    "--trainer.micro_batch_size", "4",
                                                    "--data.datasets", "[{name: ja, path: {tmp}/none}]",
                                                    "--output_dir", "{tmp}/run"], r"batch|none"),
        Case("sft-missing-source", ["sft", "--model", "{tmp}/m", "--data.sources",
                                    "[{name: a, path: {tmp}/none.jsonl, format: dolly_ja}]",
                                    "--output_dir", "{tmp}/run"], r"none\.jsonl|m/model\.safetensors", setup=_truncated_model),
        Case("sft-truncated-base-model", ["sft", "--model", "{tmp}/m", "--tokenizer", "{tmp}/m",
                                          "--output_dir", "{tmp}/run"], r"m/(model\.safetensors|tokenizer)",
             setup=_truncated_model, keep=["m"]),
        Case("sft-merge-not-a-run", ["sft-merge", "--run_dir", "{tmp}/empty", "--output_dir", "{tmp}/out"],
             r"empty", setup=lambda tmp: (tmp / "empty").mkdir()),
        Case("eval-truncated-weights", ["eval", "--model", "{tmp}/m", "--tokenizer", "{tmp}/m",
                                        "--output_dir", "{tmp}/out"], r"m/(model\.safetensors|tokenizer)",
             setup=_truncated_model, keep=["m"]),
        Case("eval-unknown-task", ["eval", "--model", "{tmp}/m", "--tasks", "[jnil]"], r"jnil.*did you mean 'jnli'",
             (2,), setup=_truncated_model),
        Case("eval-missing-data-dir", ["eval", "--model", "{tmp}/m", "--data_dir", "{tmp}/jglue",
                                       "--output_dir", "{tmp}/out"], r"jglue", setup=_truncated_model),
        Case("explore-missing-base-config", ["explore", "--base_config", "{tmp}/none.yaml",
                                             "--output_dir", "{tmp}/out"], r"none\.yaml"),
    ]


def merge_cases() -> list[Case]:
    recipe = "models:\n  - model: {tmp}/a\n  - model: {tmp}/b\nmerge_method: {method}\ndtype: float32\n"
    lora_recipe = "models:\n  - model: {tmp}/a+{tmp}/b\n  - model: {tmp}/a\nmerge_method: linear\n"
    return [
        Case("merge-unknown-method", ["merge", "--config", "{tmp}/m.yaml"], r"merge_method.*tiez|tiez.*did you mean",
             (2,), lambda tmp: (write(tmp / "m.yaml", recipe.format(tmp=tmp, method="tiez")),
                                _truncated_hf(tmp / "a"), _truncated_hf(tmp / "b"))),
        Case("merge-yaml-unknown-key", ["merge", "--config", "{tmp}/m.yaml"], r"'modles'|unknown key", (2,),
             lambda tmp: write(tmp / "m.yaml", recipe.format(tmp=tmp, method="linear").replace("models:", "modles:"))),
        Case("merge-missing-model", ["merge", "--config", "{tmp}/m.yaml", "--output_dir", "{tmp}/out"],
             r"input not found.*'models\[0\]\.model': .*/a",
             setup=lambda tmp: write(tmp / "m.yaml", recipe.format(tmp=tmp, method="linear"))),
        Case("merge-truncated-shard", ["merge", "--config", "{tmp}/m.yaml", "--output_dir", "{tmp}/out"],
             r"a/model\.safetensors: is truncated",
             setup=lambda tmp: (write(tmp / "m.yaml", recipe.format(tmp=tmp, method="linear")),
                                _truncated_hf(tmp / "a"), _truncated_hf(tmp / "b")), keep=["a"]),
        Case("merge-lora-reference-not-an-adapter", ["merge", "--config", "{tmp}/m.yaml", "--output_dir", "{tmp}/out"],
             r"/b: is not a PEFT LoRA adapter",
             setup=lambda tmp: (write(tmp / "m.yaml", lora_recipe.format(tmp=tmp)),
                                _small_hf(tmp / "a"), _small_hf(tmp / "b"))),
        Case("merge-lora-reference-dora", ["merge", "--config", "{tmp}/m.yaml", "--output_dir", "{tmp}/out"],
             r"adapter_config\.json: sets 'use_dora'",
             setup=lambda tmp: (write(tmp / "m.yaml", lora_recipe.format(tmp=tmp)),
                                _small_hf(tmp / "a"), _small_hf(tmp / "b"),
                                write(tmp / "b" / "adapter_config.json", json.dumps({"r": 4, "lora_alpha": 8,
                                                                                     "use_dora": True})),
                                write(tmp / "b" / "adapter_model.safetensors", (tmp / "a" / "model.safetensors").read_bytes()))),
        Case("chat-vector-missing", ["merge-chat-vector", "--output_dir", "{tmp}/out"],
             r"input not found.*runs/continual/hf", (1, 2)),
    ]


def _small_hf(directory: Path) -> None:
    """A readable one-tensor Hugging Face directory (a safetensors header and 4 float32 zeros)."""
    header = json.dumps({"model.embed_tokens.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}})
    header += " " * (-len(header) % 8)
    write(directory / "config.json", json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    write(directory / "model.safetensors", len(header).to_bytes(8, "little") + header.encode() + bytes(16))


def _truncated_hf(directory: Path) -> None:
    write(directory / "config.json", json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                  "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1,
                                                  "num_attention_heads": 2, "intermediate_size": 32}))
    write(directory / "model.safetensors", b'\x40\x00\x00\x00\x00\x00\x00\x00{"model.embed')


CASES = (config_cases() + range_cases() + tokenizer_cases() + model_file_cases() + use_cases() + pipeline_cases()
         + corpus_cases() + training_cases() + merge_cases() + continual_cases())


def test_there_are_enough_cases():
    assert len(CASES) >= 150 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_fails_clearly(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case.setup(tmp_path)
    before = {name: digest(tmp_path / name) for name in case.keep}
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{data}", str(DATA)) for a in case.argv]
    code = main(argv)
    err = capsys.readouterr().err
    assert code in case.exit_codes, f"exit {code}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("jaforge ")]
    assert lines, err
    assert re.search(case.message, lines[-1]), lines[-1]
    assert {name: digest(tmp_path / name) for name in case.keep} == before


def test_a_missing_tracker_extra_names_the_pip_line_before_any_output(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)   # as if the extra were not installed
    code = main(["pretrain", "--trainer.report_to", "[wandb]", "--data.datasets", f"[{{name: ja, path: {tmp_path}}}]",
                 "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err, err
    assert "pip install 'jaforge[wandb]'" in err and "trainer.report_to: wandb" in err
    assert not (tmp_path / "out").exists()
