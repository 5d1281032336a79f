"""An sft run's outputs stand alone in the ecosystem: the merged Hugging Face export has
generation_config.json, the training template as `chat_template`, and a model card the Hub parses;
the adapter names its base so `AutoPeftModelForCausalLM.from_pretrained(adapter_dir)` loads it
(offline) with the merged model's logits; a run that would write a model without a licence is
refused before anything is written."""

import json

import pytest

torch = pytest.importorskip("torch", reason="torch (the 'train' extra) is not installed")
peft = pytest.importorskip("peft", reason="peft (the 'sft' extra) is not installed")
transformers = pytest.importorskip("transformers", reason="transformers (the 'hf' extra) is not installed")

from jaforge.config import build  # noqa: E402
from jaforge.errors import ConfigError  # noqa: E402
from jaforge.sft import MergeConfig, SFTConfig, run  # noqa: E402
from jaforge.sft.merge import run as merge_run  # noqa: E402
from jaforge.sft.chat_templates import chat_messages  # noqa: E402
from jaforge.sft.data import Message  # noqa: E402
from jaforge.sft.dataset import template_context  # noqa: E402
from jaforge.sft.encoding import TextEncoder  # noqa: E402
from jaforge.sft.examples import SFTExample  # noqa: E402
from jaforge.sft.templates import prompt_text  # noqa: E402

from .conftest import tiny_sft_config  # noqa: E402

torch.set_num_threads(1)
CONVERSATION = SFTExample("c", [Message("user", "日本の首都は？"), Message("assistant", "東京です。"),
                                Message("user", "人口は？"), Message("assistant", "約1400万人です。")])


@pytest.fixture(scope="module")
def merged_run(model_dirs, tokenizer_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft-export") / "run"
    cfg = build(SFTConfig, tiny_sft_config(model_dirs["hf"], tokenizer_dir, out, merge=True,
                                           **{"trainer.max_steps": 3, "card.language": ["ja"]}))
    return cfg, run(cfg)


def test_merged_export_has_generation_config_card_and_the_training_template(merged_run, tokenizer_dir):
    cfg, result = merged_run
    hf_dir = result.outputs["merged_hf"]
    assert result.outputs["model_card"] == f"{hf_dir}/README.md"
    assert {"adapter", "merged", "merged_hf"} <= set(result.outputs)
    generation = json.loads(open(f"{hf_dir}/generation_config.json", encoding="utf-8").read())
    assert generation["eos_token_id"] == 2 and generation["do_sample"] is False
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir)
    encoder = TextEncoder.from_dir(tokenizer_dir)
    trained = prompt_text(cfg.data.template, CONVERSATION, template_context(cfg.data, encoder))
    messages = chat_messages(cfg.data.template, CONVERSATION)[:-1]
    assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == trained
    assert trained.startswith("<s>") and trained.count("### 指示:") == 2
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert ids == encoder.encode(trained) and ids[0] == tokenizer.bos_token_id


def test_model_card_is_read_by_the_hub_parser(merged_run, model_dirs):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    _, result = merged_run
    card = huggingface_hub.ModelCard.load(result.outputs["model_card"])
    assert card.data.license == "apache-2.0" and card.data.language == ["ja"]
    assert card.data.base_model == str(model_dirs["hf"].resolve())
    assert card.data.datasets == ["dolly_ja", "chat"] and {"jaforge", "sft", "lora"} <= set(card.data.tags)
    assert "## Instruction tuning" in card.text and "| dolly_ja |" in card.text
    assert "training tokens" in card.text and "| steps | 3 |" in card.text


def test_auto_peft_loads_the_adapter_on_its_named_base_offline(merged_run, model_dirs, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, result = merged_run
    config = json.loads(open(f"{result.outputs['adapter']}/adapter_config.json", encoding="utf-8").read())
    assert config["base_model_name_or_path"] == str(model_dirs["hf"].resolve())
    adapted = peft.AutoPeftModelForCausalLM.from_pretrained(result.outputs["adapter"]).eval()
    merged = transformers.AutoModelForCausalLM.from_pretrained(result.outputs["merged_hf"]).eval()
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dirs["hf"]).eval()
    ids = torch.tensor([[1, 40, 41, 42, 43, 44]])
    with torch.no_grad():
        assert torch.allclose(adapted(ids).logits, merged(ids).logits, atol=1e-5)
        assert (base(ids).logits - merged(ids).logits).abs().max() > 1e-3   # the adapter did something


def test_a_model_output_without_a_licence_is_refused_before_training(model_dirs, tokenizer_dir, tmp_path):
    out = tmp_path / "run"
    cfg = tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, out, merge=True, **{"card.license": ""})
    with pytest.raises(ConfigError, match=r"'card.license': required .*merge: true"):
        run(build(SFTConfig, cfg))
    assert not out.exists()


def test_an_adapter_only_run_needs_no_licence_and_names_the_given_base(model_dirs, tokenizer_dir, tmp_path):
    out = tmp_path / "run"
    cfg = tiny_sft_config(model_dirs["jaforge"], tokenizer_dir, out, **{
        "card.license": "", "trainer.max_steps": 1, "eval.generations": 0,
        "lora.base_model_name_or_path": "team/tiny-base"})
    result = run(build(SFTConfig, cfg))
    assert set(result.outputs) >= {"adapter"} and "merged_hf" not in result.outputs
    config = json.loads((out / "adapter" / "adapter_config.json").read_text("utf-8"))
    assert config["base_model_name_or_path"] == "team/tiny-base"
    # sft-merge later: the same standalone export, with the licence given then
    with pytest.raises(ConfigError, match=r"'license': required"):
        merge_run(MergeConfig(run_dir=str(out)))
    merged = merge_run(MergeConfig(run_dir=str(out), license="mit"))
    card = (out / "merged" / "hf" / "README.md").read_text("utf-8")
    assert merged.outputs["model_card"].endswith("README.md") and card.startswith("---\nlicense: mit\n")
    assert "base_model: team/tiny-base" in card and "# run\n" in card
    tokenizer = transformers.AutoTokenizer.from_pretrained(merged.outputs["hf"])
    assert tokenizer.apply_chat_template([{"role": "user", "content": "こんにちは"}], tokenize=False,
                                         add_generation_prompt=True).endswith("### 指示:\nこんにちは\n\n### 応答:\n")
