import json
import subprocess
import sys

from jaforge.cli import main, parse_overrides

from conftest import REPO


def test_help_lists_stages(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "corpus" in out and "lifecycle" in out


def test_stage_help_lists_keys(capsys):
    assert main(["corpus", "--help"]) == 0
    assert "--dedup.bands (int" in capsys.readouterr().out


def test_unknown_stage_and_unknown_key(capsys):
    assert main(["corpsu"]) == 2
    assert "did you mean 'corpus'" in capsys.readouterr().err
    assert main(["corpus", "--dedup.band", "3"]) == 2
    assert "'dedup.band'" in capsys.readouterr().err


def test_parse_overrides_forms():
    assert parse_overrides(["--config", "a.yaml", "--x.y", "1", "--z=2"]) == ("a.yaml", [("x.y", "1"), ("z", "2")])


def test_main_job_runs_on_the_embedded_data(tmp_path):
    """The README's main job (the lifecycle on the embedded data) runs every stage end to end."""
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "jaforge.cli", "lifecycle", "--config", "recipes/lifecycle-tiny.yaml",
         "--dir", str(run_dir), "--corpus.executor.progress", "false",
         "--pretrain.trainer.max_steps", "20", "--pretrain.trainer.eval_every", "10",
         "--pretrain.trainer.progress", "false", "--sample_tokens", "4",
         "--eval.limit", "6", "--eval.tasks", "[jnli,jsquad]", "--eval.generation.max_new_tokens", "4",
         "--sft.trainer.max_steps", "3", "--sft.trainer.progress", "false", "--sft.eval.generations", "1",
         "--sft.eval.max_new_tokens", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "outputs:" in result.stdout and "| near_dedup |" in result.stdout
    stats = json.loads((run_dir / "corpus" / "stats.json").read_text())
    assert stats["steps"]["pii"]["docs_out"] > 250
    assert sum(stats["pii_masked"].values()) > 0
    assert (run_dir / "tokenizer" / "tokenizer.json").exists()
    meta = json.loads((run_dir / "tokens" / "meta.json").read_text())
    assert meta["splits"]["train"]["tokens"] > 100_000
    metrics = [json.loads(line) for line in (run_dir / "pretrain" / "metrics.jsonl").open()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert len(losses) >= 20 and losses[-1] < losses[0]
    assert (run_dir / "hf" / "config.json").exists() and (run_dir / "hf" / "tokenizer.json").exists()
    samples = json.loads((run_dir / "samples.json").read_text())
    assert all(text.startswith(prompt) for prompt, text in samples.items())
    scores = json.loads((run_dir / "eval" / "results.json").read_text())
    assert {"jnli", "jsquad"} <= set(json.dumps(scores).replace('"', " ").split())
    sft = json.loads((run_dir / "sft" / "results.json").read_text())
    assert sft["before"] and sft["after"]
    assert (run_dir / "sft" / "adapter" / "adapter_config.json").exists()
