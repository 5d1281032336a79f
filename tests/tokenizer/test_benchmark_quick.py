"""benchmarks/tokenizer.py's two parts on a tiny input: same answers, timings in the result."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SKIP_REASON = "the 'tokenizer' extra (sentencepiece, tokenizers) is not installed"
spm = pytest.importorskip("sentencepiece", reason=SKIP_REASON)
pytest.importorskip("tokenizers", reason=SKIP_REASON)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("tokenizer_bench",
                                                  REPO / "benchmarks" / "tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_training_and_encoding_parts_agree_with_the_peers(bench, tmp_path, ja_texts,
                                                           trainer_settings):
    from jaforge.tokenizer.hf import spm_to_hf, write_tokenizer_dir

    texts = ja_texts[:60]
    bench.write_shard(texts, tmp_path / "corpus")
    a = bench.part_a(tmp_path / "corpus", trainer_settings(vocab_size=1500), rounds=1)
    assert a["same_model"]
    model = a.pop("model")
    assert a["ratio"]["min"] <= a["ratio"]["median"] <= a["ratio"]["max"]
    out = write_tokenizer_dir(spm_to_hf(model), tmp_path / "tok", model_proto=model)
    b = bench.part_b(out, texts, rounds=1)
    assert b["same_ids"] and b["backend"] == "sentencepiece"
    assert set(b["ratios"]) == {"sentencepiece", "tokenizers"}
    json.dumps({"training": a, "encoding": b})  # goes into the results file as is
