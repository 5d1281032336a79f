"""The stage: outputs written, pretrain output directories resolved, generation tasks scored."""

import json

import pytest
from tiny_models import tiny_models  # noqa: F401  (fixture)
import yaml

from jaforge.eval import EvalConfig, run
from jaforge.eval.backends import resolve_model_dir


def test_run_writes_results_samples_table_and_config(tiny_models, tmp_path):
    hf_dir, _ = tiny_models
    cfg = EvalConfig(model=str(hf_dir), tasks=["jnli", "jcommonsenseqa", "jsquad"], shots=1, limit=4,
                     output_dir=str(tmp_path / "eval"))
    cfg.generation.max_new_tokens = 4
    report = run(cfg)
    out = tmp_path / "eval"
    results = json.loads((out / "results.json").read_text("utf-8"))["results"]
    assert set(results) == {"jnli", "jcommonsenseqa", "jsquad"}
    assert {"acc", "acc_norm", "balanced_acc", "macro_f1", "mcc"} <= set(results["jnli"])
    assert {"exact_match", "f1"} <= set(results["jsquad"])
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text("utf-8").splitlines()]
    jnli = [s for s in samples if s["task"] == "jnli"]
    assert len(jnli) == 4 and len(jnli[0]["loglik"]) == 3 and jnli[0]["choices"] == ["含意", "矛盾", "中立"]
    assert jnli[0]["prediction"] == max(range(3), key=jnli[0]["loglik"].__getitem__)
    assert "| jnli | 4 |" in (out / "results.md").read_text("utf-8") == report.markdown()
    assert yaml.safe_load((out / "config.yaml").read_text("utf-8"))["shots"] == 1


def test_pretrain_output_dir_finds_model_and_tokenizer(tiny_models, tmp_path):
    from jaforge.eval.backends import find_tokenizer

    _, jf_dir = tiny_models
    pretrain = tmp_path / "pretrain"
    (pretrain / "model").mkdir(parents=True)
    for f in ("model.safetensors", "model_config.json"):
        (pretrain / "model" / f).write_bytes((jf_dir / f).read_bytes())
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "meta.json").write_text(json.dumps({"tokenizer": str(jf_dir)}), "utf-8")
    (pretrain / "config.yaml").write_text(yaml.safe_dump({"data": {"datasets": [{"path": str(tokens)}]}}))
    kind, directory = resolve_model_dir(pretrain)
    assert (kind, directory) == ("jaforge", pretrain / "model")
    assert find_tokenizer(directory) == jf_dir
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        resolve_model_dir(tmp_path / "tokens")


def test_unknown_task_fails_before_loading_the_model(tmp_path):
    with pytest.raises(KeyError, match="did you mean 'marc_ja'"):
        run(EvalConfig(model=str(tmp_path / "missing"), tasks=["marc_j"]))
