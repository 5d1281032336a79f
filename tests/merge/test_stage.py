"""`jaforge merge`: a mergekit recipe runs unchanged and gives a directory transformers loads (config,
tokenizer, shards, model card); sharded inputs and outputs; jaforge models as inputs; bad inputs
fail with one line naming the file or key and leave no half-written model."""

from __future__ import annotations

import json

import pytest

from jaforge.cli import main
from jaforge.config import build
from jaforge.merge.config import MergeConfig
from jaforge.merge.stage import run

from .conftest import load_logits, tiny_llama, torch, transformers
from .test_mergekit_parity import tensors

IDS = torch.randint(4, 290, (2, 10), generator=torch.Generator().manual_seed(1))


def ties_yaml(family, path):
    path.write_text(f"""# a mergekit recipe, as users keep them
merge_method: ties
base_model: {family['base']}
models:
  - model: {family['ft1']}
    parameters:
      density: [1, 0.7, 0.1]
      weight: 1.0
  - model: {family['ft2']}
    parameters:
      density: 0.5
      weight: [0, 0.3, 0.7, 1]
parameters:
  normalize: true
  int8_mask: true
dtype: float32
""", encoding="utf-8")
    return path


def test_mergekit_recipe_runs_unchanged_and_transformers_loads_the_result(family, tmp_path, capsys):
    out = tmp_path / "merged"
    assert main(["merge", "--config", str(ties_yaml(family, tmp_path / "ties.yml")), "--output_dir", str(out)]) == 0
    assert "ties" in capsys.readouterr().out
    model = transformers.AutoModelForCausalLM.from_pretrained(str(out))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(out))
    assert model.config.num_hidden_layers == 2 and tokenizer("東京の天気")["input_ids"]
    huggingface_hub = pytest.importorskip("huggingface_hub")
    card = huggingface_hub.ModelCard.load(out / "README.md")   # the Hub's parser reads it
    assert card.data.license == "apache-2.0" and {"merge", "jaforge"} <= set(card.data.tags)
    assert card.data.language == ["ja"] and str(family["ft2"]) in card.data.base_model
    assert "merge_method: ties" in card.text and "stated by every input's model card" in card.text
    assert "| parameters |" in card.text and "## Tokenizer" in card.text and "## Limitations" in card.text
    result = json.loads((out / "result.json").read_text("utf-8"))
    assert result["metrics"]["vocabulary"] == "identical" and result["metrics"]["tensors"] == 21
    assert (out / "config.yaml").exists() and (out / "generation_config.json").exists()


def test_sharded_inputs_and_outputs_give_the_same_model(family, tmp_path):
    sharded = tmp_path / "ft1-sharded"
    transformers.AutoModelForCausalLM.from_pretrained(str(family["ft1"])).save_pretrained(
        str(sharded), max_shard_size="20KB")
    for name in ("tokenizer.json", "tokenizer_config.json", "README.md"):
        (sharded / name).write_bytes((family["ft1"] / name).read_bytes())
    assert len(list(sharded.glob("*.safetensors"))) > 2
    config = {"merge_method": "task_arithmetic", "base_model": str(family["base"]),
              "models": [{"model": str(family["ft2"]), "parameters": {"weight": 0.5}}]}
    run(build(MergeConfig, {**config, "output_dir": str(tmp_path / "one")}))
    config["models"].append({"model": str(sharded), "parameters": {"weight": 0.5}})
    run(build(MergeConfig, {**config, "output_dir": str(tmp_path / "many"), "max_shard_bytes": 30_000}))
    config["models"][1]["model"] = str(family["ft1"])
    run(build(MergeConfig, {**config, "output_dir": str(tmp_path / "single")}))
    shards = sorted(p.name for p in (tmp_path / "many").glob("*.safetensors"))
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    index = json.loads((tmp_path / "many" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    many, single = tensors(tmp_path / "many"), tensors(tmp_path / "single")
    assert many.keys() == single.keys() and all(torch.equal(many[k], single[k]) for k in many)
    assert torch.equal(load_logits(tmp_path / "many", IDS), load_logits(tmp_path / "single", IDS))
    # a rerun into the same directory with one shard leaves no stale shard behind
    run(build(MergeConfig, {**config, "output_dir": str(tmp_path / "many")}))
    assert [p.name for p in (tmp_path / "many").glob("*.safetensors")] == ["model.safetensors"]
    assert not (tmp_path / "many" / "model.safetensors.index.json").exists()


def test_jaforge_model_inputs_merge_with_their_hf_exports(tmp_path, tokenizer_dir):
    from jaforge.model import ModelConfig, Transformer, export_hf, save_model

    cfg = ModelConfig(vocab_size=300, n_layer=2, d_model=32, n_head=4, n_kv_head=2, max_seq_len=64,
                      activation="swiglu", norm="rmsnorm", position="rope", tie_embeddings=True)
    dirs = {}
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = Transformer(cfg)
        save_model(model, cfg, tmp_path / f"jf{seed}")
        (tmp_path / f"jf{seed}" / "tokenizer.json").write_bytes((tokenizer_dir / "tokenizer.json").read_bytes())
        export_hf(model, cfg, tmp_path / f"hf{seed}", tokenizer_dir=tokenizer_dir)
        dirs[seed] = model
    recipe = {"merge_method": "slerp", "base_model": str(tmp_path / "jf0"), "parameters": {"t": 0.4},
              "models": [{"model": str(tmp_path / "jf0")}, {"model": str(tmp_path / "hf1")}],
              "card": {"license": "mit"}}   # jaforge model directories carry no card to take it from
    run(build(MergeConfig, {**recipe, "output_dir": str(tmp_path / "mixed")}))
    recipe["base_model"] = recipe["models"][0]["model"] = str(tmp_path / "hf0")
    run(build(MergeConfig, {**recipe, "output_dir": str(tmp_path / "hf-only")}))
    a, b = tensors(tmp_path / "mixed"), tensors(tmp_path / "hf-only")
    assert a.keys() == b.keys() and "lm_head.weight" not in a, (a.keys(), b.keys())
    assert max((a[k] - b[k]).abs().max() for k in a) < 1e-6   # (reductions may round differently)
    config = json.loads((tmp_path / "mixed" / "config.json").read_text())
    assert config["tie_word_embeddings"] is True and config["model_type"] == "llama"
    assert (load_logits(tmp_path / "mixed", IDS) - load_logits(tmp_path / "hf-only", IDS)).abs().max() < 1e-5


def test_output_dtype_and_chat_template(family, tmp_path):
    template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    run(build(MergeConfig, {"merge_method": "linear", "out_dtype": "bfloat16", "chat_template": template,
                            "models": [{"model": str(family["ft1"]), "parameters": {"weight": 1}},
                                       {"model": str(family["ft3"]), "parameters": {"weight": 3}}],
                            "output_dir": str(tmp_path / "bf16")}))
    merged = tensors(tmp_path / "bf16")
    assert all(t.dtype == torch.bfloat16 for t in merged.values())
    a, b = tensors(family["ft1"]), tensors(family["ft3"])
    key = "model.layers.1.mlp.up_proj.weight"
    assert torch.equal(merged[key], ((a[key] + 3 * b[key]) / 4).to(torch.bfloat16))
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["torch_dtype"] == "bfloat16"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "bf16"))
    assert tokenizer.apply_chat_template([{"role": "user", "content": "こんにちは"}], tokenize=False) == "こんにちは"


def test_each_input_tensor_is_read_once_and_alone(family, tmp_path, monkeypatch):
    from jaforge.merge.tensors import TensorFiles

    reads = []
    original = TensorFiles.read

    def counting(self, name):
        reads.append((self.directory, name))
        return original(self, name)

    monkeypatch.setattr(TensorFiles, "read", counting)
    run(build(MergeConfig, {"merge_method": "ties", "base_model": str(family["base"]),
                            "models": [{"model": str(family[m]), "parameters": {"weight": 1.0, "density": 0.5}}
                                       for m in ("ft1", "ft2", "ft3")], "output_dir": str(tmp_path / "o")}))
    assert len(reads) == len(set(reads)) == 21 * 4


@pytest.mark.parametrize("change, expected", [
    ({"merge_method": "tiess"}, "unknown merge method 'tiess'; did you mean 'ties'\\? known: breadcrumbs, "),
    ({"merge_method": "sce"}, "sce is a mergekit method that jaforge does not implement; known: breadcrumbs"),
    ({"merge_methd": "ties"}, "'merge_methd'.*unknown key; did you mean 'merge_method'?"),
    ({"parameters": {"densty": 0.5}}, "'parameters.densty': ties has no parameter 'densty'; did you mean 'density'?"),
    ({"parameters": {"density": "lots"}}, "'parameters.density': expected float, got 'lots'"),
    ({"models": []}, "give exactly one of 'models' and 'slices'"),
    ({"base_model": None}, "ties needs base_model among the merged models; set base_model"),
    ({"merge_method": "della", "parameters": {"epsilon": 0.6}},
     "della cannot merge tensor '.*': 'density' 0.5 ± 'epsilon' 0.6 of model 2 .* leaves \\(0, 1\\)"),
])
def test_bad_recipes_fail_with_one_line_naming_the_key(family, tmp_path, capsys, change, expected):
    import re

    import yaml

    recipe = yaml.safe_load(ties_yaml(family, tmp_path / "r.yml").read_text())
    recipe.update(change)
    (tmp_path / "r.yml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    code = main(["merge", "--config", str(tmp_path / "r.yml"), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(expected, err), err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_bad_inputs_name_the_file(family, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_bytes((family["ft1"] / name).read_bytes())
    data = (family["ft1"] / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    wide = tiny_llama(tmp_path / "wide", family["base"], seed=4)
    config = json.loads((wide / "config.json").read_text())
    other = transformers.LlamaConfig(**{**config, "hidden_size": 64, "head_dim": 16})
    transformers.LlamaForCausalLM(other).save_pretrained(str(wide))
    sharded = tmp_path / "sharded"
    transformers.AutoModelForCausalLM.from_pretrained(str(family["ft2"])).save_pretrained(str(sharded),
                                                                                          max_shard_size="20KB")
    first = sorted(sharded.glob("model-*.safetensors"))[0]
    first.unlink()
    cases = [(broken, f"{broken / 'model.safetensors'}: is truncated"),
             (wide, "tensor 'model.embed_tokens.weight' has different shapes"),
             (sharded, f"{sharded / 'model.safetensors.index.json'}: names shard(s) that do not exist: {first.name}"),
             (tmp_path / "nowhere", f"input not found in {tmp_path / 'r.json'}: 'models[1].model': {tmp_path / 'nowhere'}")]
    for model, expected in cases:
        recipe = {"merge_method": "linear", "models": [{"model": str(family["ft1"]), "parameters": {"weight": 1}},
                                                      {"model": str(model), "parameters": {"weight": 1}}]}
        (tmp_path / "r.json").write_text(json.dumps(recipe))
        code = main(["merge", "--config", str(tmp_path / "r.json"), "--output_dir", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 1 and expected in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.safetensors"))


def test_output_dir_must_not_be_an_input(family, tmp_path, capsys):
    recipe = tmp_path / "r.yml"
    recipe.write_text(f"merge_method: linear\nmodels:\n  - model: {family['ft1']}\n    parameters: {{weight: 1}}\n"
                      f"  - model: {family['ft2']}\n    parameters: {{weight: 1}}\n", encoding="utf-8")
    before = (family["ft2"] / "model.safetensors").read_bytes()
    assert main(["merge", "--config", str(recipe), "--output_dir", str(family["ft2"])]) == 2
    assert "is an input model's directory" in capsys.readouterr().err
    assert (family["ft2"] / "model.safetensors").read_bytes() == before


def test_the_card_licence_comes_from_the_config_or_from_every_input(family, tmp_path, capsys):
    from .conftest import variant

    bare = variant(family["ft1"], tmp_path / "bare", seed=9)
    (bare / "README.md").unlink()   # an input whose card states no licence
    recipe = tmp_path / "linear.yml"
    recipe.write_text(f"merge_method: linear\nparameters: {{weight: 1.0}}\nmodels:\n  - model: {family['base']}\n"
                      f"  - model: {bare}\n", "utf-8")
    out = tmp_path / "merged"
    assert main(["merge", "--config", str(recipe), "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'card.license': required" in err and f"{bare}: none stated" in err and not out.exists()
    assert main(["merge", "--config", str(recipe), "--output_dir", str(out), "--card.license", "mit"]) == 0
    card = (out / "README.md").read_text("utf-8")
    assert card.startswith("---\nlicense: mit\n") and "Licence: mit (set in the merge config)" in card


def test_the_preflight_logs_the_catalogues_warnings(family, tmp_path, caplog, monkeypatch):
    from jaforge.merge import stage

    wider = tiny_llama(tmp_path / "wider", vocab_size=320)
    with caplog.at_level("WARNING", logger="jaforge.merge.stage"):
        found = stage.catalogue_warnings(str(family["base"]), [str(wider), str(family["ft1"])])
    assert len(found) == 1 and "different vocabularies (300 vs 320 rows)" in caplog.text
    calls = []
    monkeypatch.setattr(stage, "plan_warnings", lambda *args: calls.append(args) or ["its licence is unclear"])
    with caplog.at_level("WARNING", logger="jaforge.merge.stage"):
        run(build(MergeConfig, {"merge_method": "task_arithmetic", "base_model": str(family["base"]),
                                "models": [{"model": str(family["ft2"]), "parameters": {"weight": 0.5}}],
                                "output_dir": str(tmp_path / "out")}))
    assert calls == [(str(family["base"]), str(family["ft2"]), "merge")]
    assert "merge preflight: its licence is unclear" in caplog.text


def test_nuslerp_takes_exactly_two_models_besides_the_base(family, tmp_path, capsys):
    import yaml

    recipe = {"merge_method": "nuslerp", "base_model": str(family["base"]),
              "models": [{"model": str(family[m]), "parameters": {"weight": 1.0}} for m in ("ft1", "ft2", "ft3")]}
    (tmp_path / "r.yml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    code = main(["merge", "--config", str(tmp_path / "r.yml"), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "nuslerp merges exactly 2 models besides the base; models has 3" in err, err
    recipe["models"] = recipe["models"][:2]
    (tmp_path / "r.yml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    assert main(["merge", "--config", str(tmp_path / "r.yml"), "--output_dir", str(tmp_path / "out"),
                 "--card.license", "apache-2.0"]) == 0
