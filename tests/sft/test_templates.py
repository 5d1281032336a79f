"""Templates by name, and which label positions are masked: response-only loss keeps exactly the
response tokens (and EOS) as targets; whole-sequence loss keeps every token but the first."""

import pytest

from jaforge.sft.data import Message
from jaforge.sft.encoding import IGNORE_INDEX, TextEncoder, encode, pack
from jaforge.sft.mixture import SFTExample
from jaforge.sft.templates import TEMPLATES, TemplateContext, prompt_text, render

CTX = TemplateContext(bos="<s>", eos="</s>")
SIMPLE = SFTExample("e1", [Message("user", "日本で一番高い山は？"), Message("assistant", "富士山です。")])
WITH_INPUT = SFTExample("e2", [Message("user", "要約して"), Message("assistant", "短い要約。")],
                        input="長い文章がここにある。")
TWO_TURNS = SFTExample("e3", [Message("system", "あなたは親切です。"), Message("user", "こんにちは"),
                              Message("assistant", "こんにちは！"), Message("user", "元気？"),
                              Message("assistant", "元気です。")])


def test_alpaca_ja_with_and_without_input():
    plain = "".join(s.text for s in render("alpaca_ja", SIMPLE, CTX))
    assert plain == ("<s>以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n"
                     "### 指示:\n日本で一番高い山は？\n\n### 応答:\n富士山です。</s>")
    given = "".join(s.text for s in render("alpaca_ja", WITH_INPUT, CTX))
    assert "文脈のある入力の組み合わせです" in given and "### 入力:\n長い文章がここにある。\n\n### 応答:\n" in given


def test_llm_jp_layout_and_multi_turn():
    segments = render("llm_jp", TWO_TURNS, CTX)
    assert [s.response for s in segments] == [False, True, False, True]
    assert segments[0].text == "<s>あなたは親切です。\n\n### 指示:\nこんにちは\n\n### 応答:\n"
    assert segments[2].text == "\n\n### 指示:\n元気？\n\n### 応答:\n"
    assert prompt_text("llm_jp", TWO_TURNS, CTX).endswith("元気？\n\n### 応答:\n")


def test_unknown_template_suggests():
    with pytest.raises(KeyError, match="did you mean 'llm_jp'"):
        render("llm-jp", SIMPLE, CTX)


def targets(item, encoder):
    return encoder.decode([l for l in item.labels if l != IGNORE_INDEX])


@pytest.fixture
def encoder(tokenizer_dir):
    return TextEncoder.from_dir(tokenizer_dir)


def test_response_only_labels_mask_every_prompt_position(encoder):
    segments = render("alpaca_ja", TWO_TURNS, TemplateContext(encoder.bos, encoder.eos))
    item = encode(segments, encoder, seq_len=512, loss_on="response")
    masked = [i for i, label in enumerate(item.labels) if label == IGNORE_INDEX]
    kept = [i for i, label in enumerate(item.labels) if label != IGNORE_INDEX]
    assert item.ids[0] == encoder.bos_id and 0 in masked
    assert item.ids[-1] == encoder.eos_id and kept[-1] == len(item.ids) - 1
    assert targets(item, encoder) == "こんにちは！元気です。"   # both replies (EOS is special, not text)
    assert sum(1 for i in kept if item.ids[i] == encoder.eos_id) == 2
    whole = encode(segments, encoder, seq_len=512, loss_on="all")
    assert whole.ids == item.ids
    assert [i for i, label in enumerate(whole.labels) if label == IGNORE_INDEX] == [0]


def test_truncation_is_flagged_and_packing_restarts_positions(encoder):
    ctx = TemplateContext(encoder.bos, encoder.eos)
    long = encode(render("alpaca_ja", WITH_INPUT, ctx), encoder, seq_len=20)
    assert long.truncated and len(long.ids) == 20
    short = encode(render("alpaca_ja", SIMPLE, ctx), encoder, seq_len=512)
    rows = pack([short, short, long], seq_len=len(short.ids) * 2 + 5)
    assert len(rows) == 2
    first = rows[0]
    n = len(short.ids)
    assert first.segments == [1] * n + [2] * n
    assert first.positions == list(range(n)) * 2
    assert first.labels[n] == IGNORE_INDEX          # never learn to follow the previous example


def test_hf_chat_template_marks_assistant_turns(tokenizer_dir):
    pytest.importorskip("transformers", reason="transformers (the 'hf' extra) is not installed")
    template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}"
                "{% if m['role'] == 'assistant' %}</s>{% endif %}{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    ctx = TemplateContext("<s>", "</s>", tokenizer_dir, template)
    segments = TEMPLATES.get("hf_chat")(TWO_TURNS, ctx)
    assert [s.text for s in segments if s.response] == ["こんにちは！</s>", "元気です。</s>"]
    assert segments[0].text == "<|system|>あなたは親切です。<|user|>こんにちは<|assistant|>"
    no_template = TemplateContext("<s>", "</s>", tokenizer_dir)
    with pytest.raises(ValueError, match="has no chat_template"):
        TEMPLATES.get("hf_chat")(SIMPLE, no_template)
