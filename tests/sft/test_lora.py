"""LoRA adapters: PEFT loads ours on the exported HF model with the same logits; merge keeps the
outputs; packed rows give each example the logits it has alone."""

import pytest

torch = pytest.importorskip("torch", reason="torch (the 'train' extra) is not installed")
pytest.importorskip("peft", reason="peft (the 'sft' extra) is not installed")

from jaforge.model import load_model  # noqa: E402
from jaforge.sft.config import LoRASettings  # noqa: E402
from jaforge.sft.lora import add_lora, load_adapter, lora_targets, merge_lora, save_adapter  # noqa: E402

torch.set_num_threads(1)
SETTINGS = LoRASettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj", r"blocks\.1\.ffn\..*"])


def tuned(model_dir):
    model, _ = load_model(model_dir)
    add_lora(model, SETTINGS)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # B starts at zero; make the update visible
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    return model.eval()


def test_targets_by_last_name_or_regex(model_dirs):
    model, _ = load_model(model_dirs["jaforge"])
    assert lora_targets(model, SETTINGS.target_modules) == [
        "blocks.0.attn.q_proj", "blocks.0.attn.v_proj", "blocks.1.attn.q_proj", "blocks.1.attn.v_proj",
        "blocks.1.ffn.gate_proj", "blocks.1.ffn.up_proj", "blocks.1.ffn.down_proj"]
    with pytest.raises(ValueError, match="match no linear layer; known: .*q_proj"):
        lora_targets(model, ["query_key_value"])


def test_peft_loads_our_adapter_on_the_hf_export_with_the_same_logits(model_dirs, tmp_path):
    transformers = pytest.importorskip("transformers", reason="transformers (the 'hf' extra) is not installed")
    from peft import PeftModel

    model = tuned(model_dirs["jaforge"])
    assert sum(p.requires_grad for p in model.parameters()) == 14
    ids = torch.randint(4, 300, (2, 24), generator=torch.Generator().manual_seed(0))
    ours = model(ids).logits
    save_adapter(model, SETTINGS, tmp_path / "adapter", base=str(model_dirs["hf"]))
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(model_dirs["hf"]))
    peft_model = PeftModel.from_pretrained(hf, str(tmp_path / "adapter")).eval()
    with torch.no_grad():
        theirs = peft_model(ids).logits
    assert (ours - theirs).abs().max() < 1e-5
    with peft_model.disable_adapter(), torch.no_grad():
        assert (peft_model(ids).logits - theirs).abs().max() > 1e-3   # the adapter does something


def test_reload_and_merge_keep_the_outputs(model_dirs, tmp_path):
    model = tuned(model_dirs["jaforge"])
    ids = torch.randint(4, 300, (1, 16), generator=torch.Generator().manual_seed(2))
    expected = model(ids).logits
    save_adapter(model, SETTINGS, tmp_path / "adapter")
    again, _ = load_model(model_dirs["jaforge"])
    load_adapter(again, tmp_path / "adapter")
    assert torch.equal(again.eval()(ids).logits, expected)
    merged = merge_lora(again)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    assert (merged(ids).logits - expected).abs().max() < 1e-5


def test_packed_rows_match_examples_alone(model_dirs, tokenizer_dir):
    from jaforge.sft.encoding import Encoded, collate, pack

    model, _ = load_model(model_dirs["jaforge"])
    a, b = [1, 50, 60, 70, 2], [1, 80, 90, 2]
    rows = pack([Encoded(a, a), Encoded(b, b)], seq_len=16)
    batch = collate(rows, pad_id=3, packed=True, length=12)
    with torch.no_grad():
        packed = model(batch["input_ids"], position_ids=batch["position_ids"],
                       segment_ids=batch["segment_ids"]).logits[0]
        alone = model(torch.tensor([b])).logits[0]
    assert (packed[len(a):len(a) + len(b)] - alone).abs().max() < 1e-5
