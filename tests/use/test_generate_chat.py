"""`jaforge generate` gives the ids transformers gives on the export; `jaforge chat` formats turns
with the model's chat template, streams replies, keeps the conversation and obeys /reset, /exit."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from .conftest import torch

import transformers  # noqa: E402

from jaforge.errors import ConfigError  # noqa: E402
from jaforge.eval import GenerationConfig, load_backend  # noqa: E402
from jaforge.use import GenerateConfig, run  # noqa: E402
from jaforge.use.chat import ChatConfig, Conversation, converse  # noqa: E402

from conftest import REPO  # noqa: E402

PROMPTS = ["今日は", "日本の首都は"]


def hf_greedy(hf_dir, prompt: str, n: int) -> str:
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    inputs = tokenizer(prompt, return_tensors="pt")
    assert inputs["input_ids"][0, 0].item() == tokenizer.bos_token_id  # BOS, as in training
    out = model.generate(**inputs, max_new_tokens=n, do_sample=False, eos_token_id=None,
                         pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.parametrize("which", ["model", "hf"])
def test_generate_matches_transformers_on_the_export(tmp_path, tiny_export, which):
    cfg = GenerateConfig(model=str(tiny_export[which]), tokenizer=str(tiny_export["tokenizer"]),
                         prompts=PROMPTS, output_dir=str(tmp_path / "gen"),
                         generation=GenerationConfig(max_new_tokens=8, stop_at_eos=False))
    result = run(cfg)
    rows = [json.loads(line) for line in open(result.outputs["generations"], encoding="utf-8")]
    assert [r["prompt"] for r in rows] == PROMPTS
    for row in rows:
        assert row["output"] == hf_greedy(tiny_export["hf"], row["prompt"], 8)


def test_generate_with_the_chat_template_matches_transformers(tmp_path, tiny_export):
    """chat: true gives each prompt as one user turn through the model's chat template, encoded as
    `apply_chat_template` encodes it (one BOS, from the template)."""
    cfg = GenerateConfig(model=str(tiny_export["hf"]), prompts=PROMPTS, chat=True, output_dir=str(tmp_path / "gen"),
                         generation=GenerationConfig(max_new_tokens=6, stop_at_eos=False))
    rows = [json.loads(line) for line in open(run(cfg).outputs["generations"], encoding="utf-8")]
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_export["hf"])
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_export["hf"]).eval()
    for row in rows:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)["input_ids"]
        assert ids[0, 0] == tokenizer.bos_token_id and ids[0].tolist().count(tokenizer.bos_token_id) == 1
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
                             eos_token_id=None, pad_token_id=tokenizer.pad_token_id)
        assert row["output"] == tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    with pytest.raises(ConfigError, match="'chat': the model's tokenizer has no chat template"):
        run(GenerateConfig(model=str(tiny_export["model"]), tokenizer=str(tiny_export["tokenizer"]), chat=True,
                           prompts=PROMPTS, output_dir=str(tmp_path / "none")))


def test_generate_reads_a_prompts_file_and_samples_reproducibly(tmp_path, tiny_export):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"text": p}, ensure_ascii=False) + "\n" for p in PROMPTS))
    outputs = []
    for i in range(2):
        cfg = GenerateConfig(model=str(tiny_export["hf"]), prompts_file=str(prompts), prompt_field="text",
                             output_dir=str(tmp_path / f"g{i}"),
                             generation=GenerationConfig(max_new_tokens=6, temperature=0.8, top_p=0.9, seed=3))
        outputs.append(open(run(cfg).outputs["generations"], encoding="utf-8").read())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 2


def test_chat_template_turns_and_reset(tiny_export):
    backend = load_backend(tiny_export["hf"])
    conversation = Conversation(backend.tokenizer.hf, None)
    first = conversation.prompt("こんにちは")
    assert first == "<s>### 指示：\nこんにちは\n\n### 応答：\n"
    conversation.answer("はい")
    second = conversation.prompt("天気は")
    assert second == first + "はい</s>### 指示：\n天気は\n\n### 応答：\n"
    conversation.reset()
    assert conversation.messages == []
    out = io.StringIO()
    replies = converse(backend, ChatConfig(model=str(tiny_export["hf"]),
                                           generation=GenerationConfig(max_new_tokens=5)),
                       io.StringIO("こんにちは\n/reset\n天気は\n/exit\nignored\n"), out)
    text = out.getvalue()
    assert replies == 2 and "(new conversation)" in text and text.count("\n> ") == 4


def test_chat_command_streams_and_exits_on_end_of_input(tiny_export):
    result = subprocess.run([sys.executable, "-m", "jaforge.cli", "chat", "--model", str(tiny_export["hf"]),
                             "--generation.max_new_tokens", "4"], input="こんにちは\n", capture_output=True,
                            text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "jaforge chat" in result.stdout and "1 replies" in result.stdout


def test_chat_refuses_a_model_without_a_template(tiny_export):
    result = subprocess.run([sys.executable, "-m", "jaforge.cli", "chat", "--model", str(tiny_export["model"]),
                             "--tokenizer", str(tiny_export["tokenizer"])], input="", capture_output=True,
                            text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2 and "no chat template" in result.stderr and "Traceback" not in result.stderr
