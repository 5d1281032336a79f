import json
import subprocess
import sys
import time

from jaforge.cli import main, parse_overrides

from conftest import REPO


def test_help_lists_stages(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "corpus" in out and "run" in out and "generate" in out


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
    """The README's main job (the lifecycle pipeline on the embedded data) runs every stage end to
    end, writes its report, and a second run skips every stage in seconds."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "jaforge.cli", "run", "recipes/lifecycle-tiny.yaml",
               "--output_dir", str(run_dir), "--stages.corpus.executor.progress", "false",
               "--stages.pretrain.trainer.max_steps", "20", "--stages.pretrain.trainer.eval_every", "10",
               "--stages.pretrain.trainer.progress", "false", "--stages.samples.generation.max_new_tokens", "4",
               "--stages.eval.limit", "6", "--stages.eval.tasks", "[jnli,jsquad]",
               "--stages.eval.generation.max_new_tokens", "4", "--stages.sft.trainer.max_steps", "3",
               "--stages.sft.trainer.progress", "false", "--stages.sft.eval.generations", "1",
               "--stages.sft.eval.max_new_tokens", "4", "--stages.sft_samples.generation.max_new_tokens", "4"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "outputs:" in result.stdout and "| near_dedup |" in result.stdout and "report:" in result.stdout
    stats = json.loads((run_dir / "corpus" / "stats.json").read_text())
    assert stats["steps"]["pii"]["docs_out"] > 250
    assert sum(stats["pii_masked"].values()) > 0
    assert (run_dir / "tokenizer" / "tokenizer.json").exists()
    meta = json.loads((run_dir / "tokens" / "meta.json").read_text())
    assert meta["splits"]["train"]["tokens"] > 100_000 and meta["bos"] is True
    metrics = [json.loads(line) for line in (run_dir / "pretrain" / "metrics.jsonl").open()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert len(losses) >= 20 and losses[-1] < losses[0]
    export = run_dir / "hf"
    assert {"config.json", "tokenizer.json", "generation_config.json", "README.md"} <= {p.name for p in export.iterdir()}
    samples = [json.loads(line) for line in (run_dir / "samples" / "generations.jsonl").open()]
    assert [s["prompt"] for s in samples] == ["日本の", "今日は", "この町では"]
    scores = json.loads((run_dir / "eval" / "results.json").read_text())
    assert {"jnli", "jsquad"} <= set(json.dumps(scores).replace('"', " ").split())
    assert "| jnli |" in (export / "README.md").read_text()  # the card's evaluation table
    sft = json.loads((run_dir / "sft" / "results.json").read_text())
    assert sft["before"] and sft["after"]
    assert (run_dir / "sft" / "adapter" / "adapter_config.json").exists()
    assert (run_dir / "sft_samples" / "generations.jsonl").exists()
    assert "<img" in (run_dir / "report.html").read_text(encoding="utf-8")
    start = time.perf_counter()
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and time.perf_counter() - start < 15, again.stderr[-2000:]
    assert again.stdout.count("(skipped: finished earlier") == 9
