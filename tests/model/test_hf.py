"""Hugging Face Llama export/import: transformers loads the export with the same logits (fp32,
≤ 1e-5), a Llama made by transformers imports with the same logits, and switches without a Llama
equivalent are refused by name."""

from __future__ import annotations

import json

import pytest

from .tiny_models import randomize, tiny, torch

transformers = pytest.importorskip("transformers", reason="needs the hf extra (pip install 'jaforge[hf]')")

from jaforge.model import Transformer, export_hf, import_hf  # noqa: E402
from jaforge.model.hf import HFExportError, check_llama_compatible  # noqa: E402

LLAMA_SHAPES = [dict(tie_embeddings=True), dict(tie_embeddings=False),
                dict(n_kv_head=2, tie_embeddings=False, rope_base=500000.0),
                dict(n_kv_head=1, head_dim=16, bias=True, d_ff=80)]


def random_ids(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 64, (3, 20), generator=torch.Generator().manual_seed(seed))


def load_hf(path):
    return transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


@pytest.mark.parametrize("switches", LLAMA_SHAPES, ids=str)
def test_export_loads_in_transformers_with_the_same_logits(tmp_path, switches):
    torch.manual_seed(0)
    cfg = tiny(**switches)
    model = Transformer(cfg).eval()
    randomize(model)
    export_hf(model, cfg, tmp_path)
    hf = load_hf(tmp_path)
    assert type(hf).__name__ == "LlamaForCausalLM"
    assert hf.config.tie_word_embeddings == cfg.tie_embeddings
    x = random_ids()
    with torch.no_grad():
        diff = (model(x).logits - hf(x).logits).abs().max().item()
    assert diff <= 1e-5


@pytest.mark.parametrize("tied", [True, False])
def test_import_of_a_transformers_llama_round_trips(tmp_path, tied):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=72,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=64, tie_word_embeddings=tied,
                                      rope_parameters={"rope_type": "default", "rope_theta": 20000.0})
    hf = transformers.LlamaForCausalLM(config).eval()
    randomize(hf, seed=1)
    hf.save_pretrained(tmp_path / "hf", max_shard_size="20KB")
    assert len(list((tmp_path / "hf").glob("*.safetensors"))) > 1          # sharded checkpoint
    model, cfg = import_hf(tmp_path / "hf")
    assert (cfg.n_kv_head, cfg.d_ff, cfg.rope_base, cfg.tie_embeddings) == (2, 72, 20000.0, tied)
    x = random_ids(1)
    with torch.no_grad():
        expected = hf(x).logits
        assert (model.eval()(x).logits - expected).abs().max() <= 1e-5
        export_hf(model, cfg, tmp_path / "again")
        assert (load_hf(tmp_path / "again")(x).logits - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("switch", [dict(position="alibi"), dict(norm="layernorm"), dict(activation="gelu"),
                                    dict(norm_placement="sandwich"), dict(qk_norm=True),
                                    dict(sliding_window=8), dict(moe_experts=2),
                                    dict(residual_scale_by_depth=True), dict(mixer="rwkv")], ids=str)
def test_switch_without_llama_equivalent_is_named(tmp_path, switch):
    cfg = tiny(**switch)
    (key, value), = switch.items()
    with pytest.raises(HFExportError, match=f"{key}={value!r}"):
        export_hf(Transformer(cfg), cfg, tmp_path)
    assert not any(tmp_path.iterdir())


def test_error_lists_every_incompatible_switch():
    with pytest.raises(HFExportError) as err:
        check_llama_compatible(tiny(position="learned", activation="relu2"))
    assert "position='learned'" in str(err.value) and "activation='relu2'" in str(err.value)


def write_tokenizer(directory) -> None:
    """A tiny byte-level BPE over the embedded Japanese corpus, saved as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from jaforge import data

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<pad>"])
    tok.train_from_iterator((d["text"] for d in data.japanese_clean()[:20]), trainer)
    directory.mkdir()
    tok.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
         "unk_token": "<unk>", "pad_token": "<pad>"}))


def test_tokenizer_files_are_copied_and_load(tmp_path):
    write_tokenizer(tmp_path / "tok")
    cfg = tiny(vocab_size=300)
    export_hf(Transformer(cfg), cfg, tmp_path / "hf", tokenizer_dir=tmp_path / "tok")
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ids = tokenizer("日本語の文章です。")["input_ids"]
    assert tokenizer.decode(ids) == "日本語の文章です。"
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (1, 2, 3)
    logits = load_hf(tmp_path / "hf")(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), 300)


def test_export_in_bfloat16(tmp_path):
    cfg = tiny()
    model = Transformer(cfg).eval()
    export_hf(model, cfg, tmp_path, dtype=torch.bfloat16)
    assert json.loads((tmp_path / "config.json").read_text())["torch_dtype"] == "bfloat16"
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert hf.model.embed_tokens.weight.dtype == torch.bfloat16
    assert torch.equal(hf.model.embed_tokens.weight, model.tok_embeddings.weight.detach().bfloat16())


def test_greedy_generation_matches_transformers(tmp_path):
    torch.manual_seed(0)
    cfg = tiny(n_kv_head=2)
    model = Transformer(cfg).eval()
    randomize(model)
    export_hf(model, cfg, tmp_path)
    prompt = random_ids()[:, :5]
    ours = model.generate(prompt, max_new_tokens=8)
    theirs = load_hf(tmp_path).generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8,
                                        do_sample=False, eos_token_id=None, pad_token_id=0)
    assert ours.shape == (3, 13) and torch.equal(ours, theirs)


def test_export_refuses_a_directory_with_other_weights(tmp_path):
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"")
    cfg = tiny()
    with pytest.raises(FileExistsError, match="model-00001-of-00002"):
        export_hf(Transformer(cfg), cfg, tmp_path)
