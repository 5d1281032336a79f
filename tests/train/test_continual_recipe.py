"""recipes/lifecycle-continual.yaml end to end at a tiny scale: the English-first base (embedded
English text → tokenizer → pretrain → Hugging Face export) loads and continues through
trainer.init_from with an expanded tokenizer, a ja/en/parallel mixture and re-warmup; the trained
model's config is the base's; the log starts at the base; both evaluations run."""

import json

import pytest
import yaml

from jaforge import pipeline

from conftest import REPO

pytest.importorskip("sentencepiece", reason="the tokenizer extra is not installed")
pytest.importorskip("sacrebleu", reason="sacrebleu (the 'ja' extra) is not installed")

TINY = {
    "en_text.sets": "[en]", "en_tokenizer.trainer.vocab_size": "1200",
    "base.trainer.max_steps": "4", "base.trainer.eval_every": "4", "base.trainer.progress": "false",
    "base.trainer.threads": "1", "base.model.d_model": "64", "expand.num_new_tokens": "150",
    "expand.candidate_vocab_size": "3000",
    "expand.trainer.num_threads": "1", "continual.trainer.max_steps": "3", "continual.trainer.eval_every": "3",
    "continual.schedule.warmup_steps": "2", "continual.trainer.progress": "false",
    "continual.trainer.threads": "1",
    **{f"{e}.{k}": v for e in ("eval_before", "eval_after") for k, v in
       (("tasks", "[jnli,translation_en_ja]"), ("limit", "2"), ("generation.max_new_tokens", "4"))},
}


def test_the_continual_recipe_runs_from_an_english_first_base(tmp_path):
    overrides = [(f"stages.{k}", v) for k, v in TINY.items()] + [("output_dir", str(tmp_path / "run"))]
    plan = pipeline.load_recipe(REPO / "recipes" / "lifecycle-continual.yaml", overrides)
    results = pipeline.execute(plan)
    run = tmp_path / "run"
    hf = json.loads((run / "base_hf" / "config.json").read_text())
    assert hf["architectures"] == ["LlamaForCausalLM"] and hf["hidden_size"] == 64
    expansion = json.loads((run / "expand" / "expansion.json").read_text())
    assert expansion["base_vocab_size"] == hf["vocab_size"] and expansion["new_tokens"]
    model = yaml.safe_load((run / "continual" / "config.yaml").read_text())["model"]
    assert model["d_model"] == 64 and model["vocab_size"] == hf["vocab_size"] + len(expansion["new_tokens"])
    rows = [json.loads(line) for line in (run / "continual" / "metrics.jsonl").open()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert {"val_loss_per_char/ja", "val_loss/en", "val_loss/parallel"} <= set(rows[0])
    assert results["continual"].metrics["start/val_loss/en"] == rows[0]["val_loss/en"]
    stats = json.loads((run / "expand" / "expand_stats.json").read_text())
    assert stats["expanded_chars_per_token"] > stats["base_chars_per_token"]
    for stage in ("eval_before", "eval_after"):
        assert 0 <= results[stage].metrics["translation_en_ja"] <= 100
