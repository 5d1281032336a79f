"""Chat vectors, end to end through jaforge's stages: base → "chat" (LoRA SFT on the embedded
instructions, merged) and base → "continual" (Japanese pretraining with an expanded tokenizer);
θ_cp + α·(θ_chat − θ_base) lowers the continual model's response perplexity on held-out
instructions; shared tokens receive the vector row by row, new tokens keep θ_cp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jaforge.cli import main

from .lineage import continual_child, sft_child
from .test_mergekit_parity import tensors

LORA_ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
TRAIN, HELD_OUT = 260, slice(270, None)   # dolly_ja: the chat model never sees the last examples


def held_out_pairs() -> list[tuple[str, str]]:
    from jaforge.sft.mixture import FORMATS
    from jaforge.sft.templates import TEMPLATES, TemplateContext

    pairs = []
    for example in FORMATS.get("dolly_ja")(Path("data/sft/dolly_ja.jsonl"))[HELD_OUT]:
        segments = TEMPLATES.get("alpaca_ja")(example, TemplateContext(bos="<s>", eos="</s>"))
        pairs.append(("".join(s.text for s in segments if not s.response),
                      "".join(s.text for s in segments if s.response)))
    return pairs


def response_ppl(model_dir: Path, pairs) -> float:
    from jaforge.eval import load_backend, response_perplexity

    return response_perplexity(load_backend(str(model_dir)), pairs)


@pytest.fixture(scope="module")
def family_of_three(lineage, tmp_path_factory):
    root = tmp_path_factory.mktemp("chat-vector")
    chat = sft_child(root, lineage["base_hf"], "chat",
                     [{"name": "dolly_ja", "path": "data/sft/dolly_ja.jsonl", "format": "dolly_ja", "limit": TRAIN}],
                     steps=100, optim={"lr": 5e-3, "weight_decay": 0.0},
                     lora={"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": LORA_ALL})
    continual = continual_child(root, lineage, new_tokens=40, steps=20)
    return {"root": root, "base": lineage["base_hf"], "chat": chat, "continual": continual["hf"]}


def chat_vector(models, out: Path, alpha: float, *extra: str) -> Path:
    code = main(["merge-chat-vector", "--continual", str(models["continual"]), "--chat", str(models["chat"]),
                 "--base_model", str(models["base"]), "--alpha", str(alpha), "--output_dir", str(out), *extra])
    assert code == 0
    return out


def test_chat_vector_lowers_the_continual_models_response_perplexity(family_of_three):
    models, pairs = family_of_three, held_out_pairs()
    ppl = {name: response_ppl(models[name], pairs) for name in ("base", "chat", "continual")}
    assert ppl["chat"] < 0.95 * ppl["base"]         # the chat model learned something to transfer
    for alpha in (1.0, 0.5):
        merged = response_ppl(chat_vector(models, models["root"] / f"cv-{alpha}", alpha), pairs)
        assert merged < ppl["continual"], (alpha, merged, ppl)
    assert merged < 0.9 * ppl["continual"]          # α = 0.5: by more than 10 %


def test_shared_tokens_receive_the_vector_and_new_tokens_keep_the_continual_rows(family_of_three):
    models = family_of_three
    out = chat_vector(models, models["root"] / "cv-rows", 0.7, "--exclude", "[norm]")
    merged, cp = tensors(out), tensors(models["continual"])
    chat, base = tensors(models["chat"]), tensors(models["base"])
    vocab = {k: json.loads((models[k] / "tokenizer.json").read_text("utf-8"))["model"]["vocab"]
             for k in ("continual", "chat", "base")}
    new = [s for s in vocab["continual"] if s not in vocab["base"]]
    assert len(new) == 40 and merged["lm_head.weight"].shape[0] == len(vocab["continual"])
    for key in ("lm_head.weight", "model.embed_tokens.weight"):
        for token, i in vocab["continual"].items():
            if token in vocab["base"]:
                expected = cp[key][i] + 0.7 * (chat[key][vocab["chat"][token]] - base[key][vocab["base"][token]])
            else:
                expected = cp[key][i]
            assert (merged[key][i] - expected).abs().max() < 1e-6, (key, token)
    for key in merged:
        if "norm" in key:
            assert (merged[key] == cp[key]).all()          # excluded
        elif "layers" in key:
            assert (merged[key] - (cp[key] + 0.7 * (chat[key] - base[key]))).abs().max() < 1e-6
    card = (out / "README.md").read_text("utf-8")
    assert "chat vector" in card and "40 new token rows keep θ_cp" in card and "license: apache-2.0" in card
    template = json.loads((family_of_three["chat"] / "tokenizer_config.json").read_text("utf-8"))["chat_template"]
    assert json.loads((out / "tokenizer_config.json").read_text("utf-8"))["chat_template"] == template
