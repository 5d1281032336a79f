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
    assert "--dedup.bands (int, default 40)" in capsys.readouterr().out


def test_unknown_stage_and_unknown_key(capsys):
    assert main(["corpsu"]) == 2
    assert "did you mean 'corpus'" in capsys.readouterr().err
    assert main(["corpus", "--dedup.band", "3"]) == 2
    assert "'dedup.band'" in capsys.readouterr().err


def test_parse_overrides_forms():
    assert parse_overrides(["--config", "a.yaml", "--x.y", "1", "--z=2"]) == ("a.yaml", [("x.y", "1"), ("z", "2")])


def test_main_job_runs_on_the_embedded_data(tmp_path):
    """The README's main job (lifecycle on the embedded data) runs and reports its outputs."""
    result = subprocess.run(
        [sys.executable, "-m", "jaforge.cli", "lifecycle", "--config", "recipes/lifecycle-tiny.yaml",
         "--dir", str(tmp_path / "run"), "--corpus.executor.progress", "false"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "outputs:" in result.stdout and "| near_dedup |" in result.stdout
    stats = json.loads((tmp_path / "run" / "corpus" / "stats.json").read_text())
    assert stats["steps"]["pii"]["docs_out"] > 250
    assert sum(stats["pii_masked"].values()) > 0
    assert (tmp_path / "run" / "config.yaml").exists()
