"""save_model/load_model round-trip exactly and atomically; the export stage turns a saved model
into a Hugging Face directory (and refuses non-Llama models by switch name)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .tiny_models import randomize, tiny, torch

pytest.importorskip("safetensors", reason="checkpoints need the hf extra (pip install 'jaforge[hf]')")

from jaforge.config import load_config  # noqa: E402
from jaforge.model import Transformer, load_model, save_model  # noqa: E402
from jaforge.errors import InputError  # noqa: E402
from jaforge.model.card import ModelCardConfig  # noqa: E402
from jaforge.model.export import ExportConfig, run  # noqa: E402
from jaforge.model.hf import HFExportError  # noqa: E402


@pytest.mark.parametrize("switches", [dict(), dict(tie_embeddings=False, position="learned"),
                                      dict(moe_experts=3, norm="layernorm", bias=True)], ids=str)
def test_save_and_load_round_trip(tmp_path, switches):
    torch.manual_seed(0)
    cfg = tiny(**switches)
    model = Transformer(cfg).eval()
    randomize(model)
    save_model(model, cfg, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["model.safetensors",
                                                                      "model_config.json"]
    loaded, loaded_cfg = load_model(tmp_path / "ckpt")
    assert loaded_cfg == cfg
    assert loaded.lm_head.weight is loaded.tok_embeddings.weight or not cfg.tie_embeddings
    x = torch.randint(0, 64, (2, 10))
    assert torch.equal(model(x).logits, loaded.eval()(x).logits)


def test_saving_over_a_checkpoint_replaces_it_whole(tmp_path):
    cfg = tiny()
    save_model(Transformer(cfg), cfg, tmp_path)
    model = Transformer(cfg)
    save_model(model, cfg, tmp_path)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    assert torch.equal(load_model(tmp_path)[0].tok_embeddings.weight, model.tok_embeddings.weight)


def test_load_model_names_what_is_missing(tmp_path):
    with pytest.raises(InputError, match="model_config.json"):
        load_model(tmp_path)
    cfg = tiny()
    save_model(Transformer(cfg), cfg, tmp_path)
    other = json.loads((tmp_path / "model_config.json").read_text())
    other["n_layer"] = 3
    (tmp_path / "model_config.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="missing"):
        load_model(tmp_path)


def test_export_stage_writes_a_transformers_directory(tmp_path):
    transformers = pytest.importorskip("transformers", reason="needs the hf extra")
    torch.manual_seed(0)
    cfg = tiny(n_kv_head=2, tie_embeddings=False)
    model = Transformer(cfg).eval()
    randomize(model)
    save_model(model, cfg, tmp_path / "ckpt")
    stage_cfg = load_config(ExportConfig, overrides=[("checkpoint", str(tmp_path / "ckpt")),
                                                     ("output_dir", str(tmp_path / "hf")),
                                                     ("card.license", "apache-2.0")])
    out = Path(run(stage_cfg).output_dir)
    assert {"model.safetensors", "config.json", "config.yaml"} <= {p.name for p in out.iterdir()}
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    x = torch.randint(0, 64, (2, 10))
    with torch.no_grad():
        assert (hf(x).logits - model(x).logits).abs().max() <= 1e-5


def test_export_stage_refuses_a_non_llama_model_by_switch(tmp_path):
    cfg = tiny(position="alibi")
    save_model(Transformer(cfg), cfg, tmp_path / "ckpt")
    with pytest.raises(HFExportError, match="position='alibi'"):
        run(ExportConfig(checkpoint=str(tmp_path / "ckpt"), output_dir=str(tmp_path / "hf"),
                         card=ModelCardConfig(license="mit")))
    assert not (tmp_path / "hf").exists()


def test_export_stage_finds_the_model_inside_a_pretrain_directory(tmp_path):
    cfg = tiny()
    save_model(Transformer(cfg), cfg, tmp_path / "run" / "model")
    out = Path(run(ExportConfig(checkpoint=str(tmp_path / "run"), output_dir=str(tmp_path / "hf"),
                                card=ModelCardConfig(license="mit"))).output_dir)
    assert (out / "config.json").exists()
    with pytest.raises(InputError, match="model_config.json"):
        run(ExportConfig(checkpoint=str(tmp_path / "nothing"), output_dir=str(tmp_path / "hf2"),
                         card=ModelCardConfig(license="mit")))
