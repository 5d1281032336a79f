"""jaforge's tokenizer stage beside sentencepiece and HF tokenizers: training and batch encoding.

    python benchmarks/tokenizer.py [--quick]

Input: Debian's Japanese documentation (benchmarks/data/debian_ja.jsonl, built by
benchmarks/debian_ja_corpus.py), else the embedded corpus (data/ja/clean). --quick uses the first
~1 MB of text and a 2,000-piece vocabulary.

Part A, training: jaforge's `train_sentencepiece` streams the documents from a corpus shard
(part-00000.jsonl.gz) into SentencePiece against the `spm_train`-equivalent call a user makes
(`SentencePieceTrainer.train(input=lines.txt, …)`) with the same settings on the same lines (the
text file is written beforehand and not timed). Same answers: the two models' pieces and scores
(the peer's unigram scores rounded to jaforge's 1/16 grid, see jaforge.tokenizer.train).

Part B, batch encoding of the whole documents with the trained tokenizer: jaforge's
`BatchEncoder.encode_batch` against sentencepiece's batch `encode(list)` and HF tokenizers'
`encode_batch` (each library's documented batch API, all cores). Same answers: identical ids.

Writes benchmarks/results/tokenizer.json; the last line of output is the JSON summary, whose
ratio_* are part A's (peer time / jaforge time) and whose "ratios" hold every peer's median.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternate, ratio_stats  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEBIAN = REPO / "benchmarks" / "data" / "debian_ja.jsonl"
RESULTS = REPO / "benchmarks" / "results" / "tokenizer.json"


# --- input --------------------------------------------------------------------------------------

def read_texts(quick: bool) -> tuple[list[str], str]:
    """Document texts (the Debian corpus if built, else the embedded one) and their origin."""
    embedded = sorted((REPO / "data" / "ja" / "clean").glob("*.jsonl"))
    paths = [DEBIAN] if DEBIAN.exists() else embedded
    texts = [json.loads(line)["text"] for p in paths for line in open(p, encoding="utf-8")]
    if quick:
        kept, size = [], 0
        for text in texts:
            if size > 1_000_000:
                break
            kept.append(text)
            size += len(text.encode("utf-8"))
        texts = kept
    return texts, "debian_ja" if paths == [DEBIAN] else "embedded data/ja/clean"


def write_shard(texts: list[str], folder: Path) -> Path:
    """The texts as a corpus-stage shard (JSONL.gz with id, text, metadata)."""
    path = folder / "data" / "part-00000.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            record = {"id": str(i), "text": text, "metadata": {}}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


# --- part A: training ---------------------------------------------------------------------------

def pieces(model_proto: bytes) -> list[tuple[str, float, int]]:
    from jaforge.tokenizer.hf import parse_model

    return [(p.piece, round(p.score, 4), p.type) for p in parse_model(model_proto).pieces]


def part_a(shard_dir: Path, trainer: Any, rounds: int) -> dict[str, Any]:
    """Training time: jaforge streaming the shard vs sentencepiece reading a text file."""
    import sentencepiece as spm
    from jaforge.tokenizer.config import SourceConfig
    from jaforge.tokenizer.sources import training_lines
    from jaforge.tokenizer.train import quantize_scores, spm_arguments, train_sentencepiece

    sources = [SourceConfig(paths=[str(shard_dir)])]
    lines_file = shard_dir / "lines.txt"
    with open(lines_file, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in training_lines(sources, trainer))
    models: dict[str, bytes] = {}

    def jaforge() -> None:
        models["jaforge"] = train_sentencepiece(sources, trainer)

    def peer() -> None:
        prefix = shard_dir / "peer"
        spm.SentencePieceTrainer.train(input=str(lines_file), model_prefix=str(prefix),
                                       **spm_arguments(trainer))
        models["sentencepiece"] = (prefix.with_suffix(".model")).read_bytes()

    times = alternate({"jaforge": jaforge, "sentencepiece": peer}, rounds)
    # jaforge rounds unigram scores to a 1/16 grid (see quantize_scores); compare like with like
    same = pieces(models["jaforge"]) == pieces(quantize_scores(models["sentencepiece"]))
    return {"same_model": same, "seconds": times, "lines_bytes": lines_file.stat().st_size,
            "ratio": ratio_stats(times["sentencepiece"], times["jaforge"]),
            "model": models["jaforge"]}


# --- part B: batch encoding ---------------------------------------------------------------------

def part_b(tokenizer_dir: Path, texts: list[str], rounds: int) -> dict[str, Any]:
    """Batch encoding throughput: jaforge's BatchEncoder vs sentencepiece and tokenizers."""
    import sentencepiece as spm
    import tokenizers
    from jaforge.tokenizer.encode import BatchEncoder

    encoder = BatchEncoder(tokenizer_dir)
    processor = spm.SentencePieceProcessor(model_file=str(tokenizer_dir / "tokenizer.model"))
    hf = tokenizers.Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    runs = {"jaforge": lambda: encoder.encode_batch(texts),
            "sentencepiece": lambda: processor.encode(texts),
            "tokenizers": lambda: [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]}
    answers = {name: run() for name, run in runs.items()}
    same = answers["jaforge"] == answers["sentencepiece"] == answers["tokenizers"]
    tokens = sum(map(len, answers["jaforge"]))
    times = alternate(runs, rounds)
    return {"same_ids": same, "backend": encoder.backend, "tokens": tokens, "seconds": times,
            "tokens_per_s": {k: tokens / statistics.median(v) for k, v in times.items()},
            "ratios": {peer: ratio_stats(times[peer], times["jaforge"])
                       for peer in ("sentencepiece", "tokenizers")}}


# --- report -------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                if line.startswith("model name")), platform.processor())
    try:
        torch_version = version("torch")
    except Exception:  # torch is not needed here; report it when installed
        torch_version = None
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "torch": torch_version, "sentencepiece": version("sentencepiece"),
            "tokenizers": version("tokenizers"), "load_average": os.getloadavg(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def print_table(a: dict[str, Any], b: dict[str, Any], inputs: dict[str, Any]) -> None:
    print(f"\ninput: {inputs['source']}, {inputs['documents']} docs, {inputs['mb']:.1f} MB, "
          f"vocab {inputs['vocab_size']} ({inputs['algorithm']})")
    r = a["ratio"]
    print(f"A. training ({a['lines_bytes'] / 1e6:.1f} MB of lines), "
          f"identical model: {a['same_model']}")
    for name, times in a["seconds"].items():
        print(f"  {name:16s} median {statistics.median(times):7.2f} s")
    print(f"  ratio sentencepiece/jaforge  median {r['median']:.2f}  min {r['min']:.2f}  "
          f"max {r['max']:.2f}")
    print(f"B. batch encoding ({b['tokens']:,} tokens), identical ids: {b['same_ids']}, "
          f"jaforge backend: {b['backend']}")
    for name, rate in b["tokens_per_s"].items():
        print(f"  {name:16s} {rate / 1e6:7.2f} M tokens/s")
    for peer, s in b["ratios"].items():
        print(f"  ratio {peer}/jaforge  median {s['median']:.2f}  min {s['min']:.2f}  "
              f"max {s['max']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~1 MB of text, 2,000 pieces")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--vocab-size", type=int, default=None)
    parser.add_argument("--algorithm", default="unigram", choices=["unigram", "bpe"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from jaforge.tokenizer.config import TrainerConfig
    from jaforge.tokenizer.hf import spm_to_hf, write_tokenizer_dir

    texts, source = read_texts(args.quick)
    rounds = args.rounds or (2 if args.quick else 3)
    trainer = TrainerConfig(algorithm=args.algorithm,
                            character_coverage=0.98 if args.quick else 0.9995,
                            vocab_size=args.vocab_size or (2000 if args.quick else 16000))
    inputs = {"source": source, "documents": len(texts), "chars": sum(map(len, texts)),
              "mb": sum(len(t.encode("utf-8")) for t in texts) / 1e6,
              "vocab_size": trainer.vocab_size, "algorithm": trainer.algorithm, "rounds": rounds}
    with tempfile.TemporaryDirectory() as tmp:
        shard_dir = Path(tmp) / "corpus"
        write_shard(texts, shard_dir)
        a = part_a(shard_dir, trainer, rounds)
        model = a.pop("model")
        tokenizer_dir = write_tokenizer_dir(spm_to_hf(model), Path(tmp) / "tokenizer",
                                            model_proto=model)
        b = part_b(tokenizer_dir, texts, rounds)
    print_table(a, b, inputs)
    same = a["same_model"] and b["same_ids"]
    peers = f"sentencepiece {version('sentencepiece')}, tokenizers {version('tokenizers')}"
    summary = {"benchmark": "tokenizer", "peer": peers, "same_answers": same,
               "ratio_median": a["ratio"]["median"], "ratio_min": a["ratio"]["min"],
               "ratio_max": a["ratio"]["max"],
               "ratios": {"sentencepiece (train)": a["ratio"]["median"],
                          **{f"{p} (encode)": s["median"] for p, s in b["ratios"].items()}},
               "inputs": inputs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**summary, "training": a, "encoding": b, "machine": machine()},
                                   ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
