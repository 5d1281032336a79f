"""The stage: a StageResult with the outputs written, the japanese_leaderboard group and its
mean, pretrain output directories resolved; bad config values, model files and task files fail
with one line naming the key or the file."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_models import tiny_models  # noqa: F401  (fixture)

from jaforge.config import load_config
from jaforge.errors import ConfigError, InputError, RunDirError
from jaforge.eval import EvalConfig, run
from jaforge.eval.loading import find_tokenizer, load_backend, resolve_model_dir
from jaforge.rundir import run_lock

REPO = Path(__file__).resolve().parents[2]


def test_run_writes_results_samples_table_and_config(tiny_models, tmp_path):
    hf_dir, _ = tiny_models
    cfg = EvalConfig(model=str(hf_dir), tasks=["jnli", "jcommonsenseqa", "jsquad"], shots=1, limit=4,
                     output_dir=str(tmp_path / "eval"))
    cfg.generation.max_new_tokens = 4
    result = run(cfg)
    out = tmp_path / "eval"
    assert result.stage == "eval" and set(result.outputs) == {"results", "samples", "table"}
    assert all(Path(p).exists() for p in result.outputs.values()) and (out / "result.json").exists()
    results = json.loads((out / "results.json").read_text("utf-8"))["results"]
    assert set(results) == {"jnli", "jcommonsenseqa", "jsquad"} == set(result.metrics)
    assert {"acc", "acc_norm", "balanced_acc", "macro_f1", "mcc"} <= set(results["jnli"])
    assert {"exact_match", "f1"} <= set(results["jsquad"]) and results["jsquad"]["shots"] == 1
    assert result.metrics["jnli"] == results["jnli"]["acc"]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text("utf-8").splitlines()]
    jnli = [s for s in samples if s["task"] == "jnli"]
    assert len(jnli) == 4 and len(jnli[0]["loglik"]) == 3 and jnli[0]["choices"] == ["含意", "矛盾", "中立"]
    assert jnli[0]["prediction"] == max(range(3), key=jnli[0]["loglik"].__getitem__)
    assert "| jnli | validation | 4 | 1 | acc |" in (out / "results.md").read_text("utf-8") == result.markdown()
    assert yaml.safe_load((out / "config.yaml").read_text("utf-8"))["shots"] == 1


def test_japanese_leaderboard_runs_all_eight_and_reports_the_mean(tiny_models, tmp_path):
    cfg = EvalConfig(model=str(tiny_models[0]), tasks=["japanese_leaderboard"], limit=2,
                     output_dir=str(tmp_path / "eval"))
    cfg.generation.max_new_tokens = 4
    result = run(cfg)
    tasks = ["jaqket_v2", "jcommonsenseqa", "jnli", "jsquad", "marc_ja", "mgsm", "xlsum", "xwinograd"]
    assert list(result.metrics) == tasks + ["japanese_leaderboard"]
    assert result.metrics["japanese_leaderboard"] == pytest.approx(sum(result.metrics[t] for t in tasks) / 8)
    results = json.loads((tmp_path / "eval" / "results.json").read_text("utf-8"))
    shots = {t: results["results"][t]["shots"] for t in tasks}
    assert shots == {"jaqket_v2": 1, "jcommonsenseqa": 3, "jnli": 3, "jsquad": 2, "marc_ja": 3, "mgsm": 5,
                     "xlsum": 1, "xwinograd": 0}
    assert results["results"]["mgsm"]["split"] == "test" and results["groups"]["japanese_leaderboard"]["tasks"] == tasks
    assert "| **japanese_leaderboard** |" in result.markdown()


def test_a_budget_without_room_for_the_prompt_is_halved_once(tiny_models, caplog):
    from jaforge.eval.config import GenerationConfig
    from jaforge.eval.runner import capped_generation

    backend = load_backend(tiny_models[0])  # window 256
    assert capped_generation(backend, GenerationConfig(max_new_tokens=200)).max_new_tokens == 200  # as lm-eval
    with caplog.at_level("WARNING"):
        assert capped_generation(backend, GenerationConfig(max_new_tokens=256)).max_new_tokens == 128
    assert "capped at 128" in caplog.text


def test_pretrain_output_dir_finds_model_and_tokenizer(tiny_models, tmp_path):
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
    with pytest.raises(InputError, match="not a model directory"):
        resolve_model_dir(tmp_path / "tokens")


# ---------------------------------------------------------------------------- config ranges

@pytest.mark.parametrize("key, value, message", [
    ("shots", "-1", r"'shots'.*-1 is out of range: must be >= 0"),
    ("limit", "-1", r"'limit'.*-1 is out of range: must be >= 1"),
    ("limit", "0", r"'limit'.*0 is out of range: must be >= 1"),
    ("batch_size", "0", r"'batch_size'.*0 is out of range: must be >= 1"),
    ("tasks", "[]", r"'tasks'.*must have at least 1 item"),
    ("dtype", "float64", r"'dtype'.*'float64' is not one of"),
    ("split", "valid", r"'split'.*'valid' is not one of .*did you mean 'validation'"),
    ("generation.max_new_tokens", "0", r"'generation.max_new_tokens'.*must be >= 1"),
    ("generation.top_p", "1.5", r"'generation.top_p'.*must be > 0, <= 1"),
])
def test_out_of_range_values_fail_naming_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(EvalConfig, None, [(key, value)])


def test_config_built_in_code_is_checked_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match=r"'shots'.*must be >= 0"):
        run(EvalConfig(model=str(tmp_path / "missing"), shots=-1, output_dir=str(tmp_path / "out")))
    with pytest.raises(KeyError, match="did you mean 'marc_ja'"):
        run(EvalConfig(model=str(tmp_path / "missing"), tasks=["marc_j"], output_dir=str(tmp_path / "out")))
    with pytest.raises(ConfigError, match=r"'shots': 9 shots for mgsm, but its few-shot split has 8"):
        run(EvalConfig(model=str(tmp_path / "missing"), tasks=["mgsm"], shots=9, output_dir=str(tmp_path / "out")))
    with pytest.raises(ConfigError, match="'template': prompt template 'jp-stable-0.2' has no prompt for task 'mgsm'"):
        run(EvalConfig(model=str(tmp_path / "missing"), tasks=["mgsm"], template="jp-stable-0.2",
                       output_dir=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()  # nothing written for a config that cannot run


def test_a_second_run_on_the_same_output_dir_is_refused(tiny_models, tmp_path):
    out = tmp_path / "eval"
    with run_lock(out, "eval"):
        code = ("import sys; from jaforge.eval import EvalConfig, run\n"
                f"run(EvalConfig(model={str(tiny_models[0])!r}, tasks=['jnli'], limit=1, output_dir={str(out)!r}))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and RunDirError.__name__ in done.stderr and "in use by another run" in done.stderr


# ---------------------------------------------------------------------------- bad files

def truncated_copy(src: Path, dst: Path, name: str, keep: float = 0.5) -> Path:
    shutil.copytree(src, dst)
    data = (dst / name).read_bytes()
    (dst / name).write_bytes(data[:int(len(data) * keep)])
    return dst


@pytest.mark.parametrize("kind, name, what", [
    (0, "model.safetensors", "the model's weights"),
    (1, "model.safetensors", "a jaforge model"),
    (0, "tokenizer.json", "a tokenizer.json"),
    (1, "tokenizer.json", "a tokenizer.json"),
    (0, "config.json", "a Hugging Face config.json"),
])
def test_truncated_model_or_tokenizer_fails_naming_the_file(tiny_models, tmp_path, kind, name, what):
    broken = truncated_copy(tiny_models[kind], tmp_path / "model", name)
    with pytest.raises(InputError, match=rf"{broken / name}: cannot be read as {what}"):
        load_backend(broken)


def test_garbled_task_file_fails_naming_file_and_line(tmp_path):
    from jaforge.eval.runner import prepare_tasks

    folder = tmp_path / "jnli-v1.3"
    folder.mkdir()
    good = '{"sentence_pair_id": "0", "sentence1": "犬が走る。", "sentence2": "動物が動く。", "label": "entailment"}\n'
    (folder / "train-v1.3.json").write_text(good * 4, "utf-8")
    (folder / "valid-v1.3.json").write_text(good + '{"sentence_pair_id": "1", "sentence1": "猫\n', "utf-8")
    with pytest.raises(InputError, match=rf"{folder / 'valid-v1.3.json'}:2: malformed JSON"):
        prepare_tasks(["jnli"], data_dir=str(tmp_path))
    (folder / "valid-v1.3.json").write_text(good.replace("entailment", "entails"), "utf-8")
    with pytest.raises(InputError, match=r"valid-v1.3.json:1: field 'label': 'entails' is not one of"):
        prepare_tasks(["jnli"], data_dir=str(tmp_path))
    with pytest.raises(InputError, match=r"no test file for mgsm .*mgsm\*/mgsm_ja.tsv"):
        prepare_tasks(["mgsm"], data_dir=str(tmp_path))


def test_command_line_prints_one_line_and_no_traceback(tiny_models, tmp_path):
    broken = truncated_copy(tiny_models[0], tmp_path / "model", "model.safetensors")
    for args, code, message in [
        (["--model", str(broken), "--tasks", "[jnli]"], 1, f"{broken / 'model.safetensors'}: cannot be read as"),
        (["--shots", "-1"], 2, "'shots'"),
        (["--model", str(tiny_models[0]), "--tasks", "[jnli]", "--data_dir", str(tmp_path)], 1,
         "no validation file for jnli"),
    ]:
        done = subprocess.run([sys.executable, "-m", "jaforge.cli", "eval", "--output_dir", str(tmp_path / "o"), *args],
                              capture_output=True, text=True, cwd=REPO, timeout=120)
        assert done.returncode == code, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
