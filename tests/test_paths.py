"""Model references in configs: a directory whose name holds a '+' is one model wherever it is
found (beside the config file or in the working directory); otherwise '+' joins a LoRA adapter."""

from pathlib import Path

from jaforge.merge.config import MergeConfig
from jaforge.paths import resolve_paths, split_model_reference


def test_a_plus_in_an_existing_directory_name_is_not_an_adapter(tmp_path, monkeypatch):
    config_dir, elsewhere = tmp_path / "recipes", tmp_path / "cwd"
    (config_dir / "models" / "base+sft").mkdir(parents=True)
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    data = {"models": [{"model": "models/base+sft"}]}
    resolved = resolve_paths(MergeConfig, data, config_dir)
    assert resolved["models"][0]["model"] == str(config_dir / "models" / "base+sft")
    assert split_model_reference("models/base+sft", config_dir) == ("models/base+sft", None)


def test_a_model_plus_adapter_resolves_each_part_beside_the_config(tmp_path, monkeypatch):
    config_dir = tmp_path / "recipes"
    for name in ("base", "adapter"):
        (config_dir / name).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    resolved = resolve_paths(MergeConfig, {"models": [{"model": "base+adapter"}]}, config_dir)
    assert resolved["models"][0]["model"] == f"{config_dir / 'base'}+{config_dir / 'adapter'}"
    assert split_model_reference("base+adapter", config_dir) == ("base", "adapter")
    assert split_model_reference(str(Path("x") / "plain")) == ("x/plain", None)
