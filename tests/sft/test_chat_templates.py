"""Every sft template written as a Jinja chat template: transformers' `apply_chat_template` gives
the training prompt text exactly (first turn, with a context, with a system message, every turn of
a multi-turn conversation), and BOS starts a prompt exactly when the tokenizer adds BOS to a text."""

import json
import shutil

import pytest

transformers = pytest.importorskip("transformers", reason="transformers (the 'hf' extra) is not installed")

from jaforge.sft.chat_templates import chat_messages, chat_template  # noqa: E402
from jaforge.sft.data import Message  # noqa: E402
from jaforge.sft.encoding import TextEncoder  # noqa: E402
from jaforge.sft.examples import SFTExample  # noqa: E402
from jaforge.sft.templates import TemplateContext, render  # noqa: E402

HF_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}"
               "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
               "{% if add_generation_prompt %}<|assistant|>{% endif %}")
EXAMPLES = [
    SFTExample("one", [Message("user", "日本で一番高い山は？"), Message("assistant", "富士山です。")]),
    SFTExample("context", [Message("user", "要約して"), Message("assistant", "短い要約。")],
               input="長い文章がここにある。"),
    SFTExample("system", [Message("system", "あなたは親切です。"), Message("user", "こんにちは"),
                          Message("assistant", "こんにちは！"), Message("user", "元気？"),
                          Message("assistant", "元気です。")], input="前置き"),
    SFTExample("three", [Message("user", "一"), Message("assistant", "二"), Message("user", "三"),
                         Message("assistant", "四"), Message("user", "五"), Message("assistant", "六")]),
]


def hf_tokenizer(source, tmp_path, template):
    directory = tmp_path / "tok"
    shutil.copytree(source, directory)
    config = json.loads((directory / "tokenizer_config.json").read_text("utf-8"))
    (directory / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}), "utf-8")
    return transformers.AutoTokenizer.from_pretrained(str(directory))


@pytest.mark.parametrize("bos", ["bos", "plain"])
@pytest.mark.parametrize("name", ["alpaca_ja", "llm_jp", "hf_chat"])
def test_apply_chat_template_reproduces_every_training_prompt(name, bos, tokenizer_dirs, tmp_path):
    encoder = TextEncoder.from_dir(tokenizer_dirs[bos])
    assert encoder.add_bos == (bos == "bos")
    ctx = TemplateContext(encoder.prompt_start, encoder.eos, encoder.directory,
                          HF_TEMPLATE if name == "hf_chat" else "")
    tokenizer = hf_tokenizer(tokenizer_dirs[bos], tmp_path, chat_template(name, ctx))
    for example in EXAMPLES:
        segments = render(name, example, ctx)
        messages = chat_messages(name, example)
        assert tokenizer.apply_chat_template(messages, tokenize=False) == "".join(s.text for s in segments)
        turn = 0
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
            assert prompt == "".join(s.text for s in segments[:2 * turn + 1]), (example.id, turn)
            assert prompt.startswith("<s>") == (name == "hf_chat" or bos == "bos")
            turn += 1


def test_training_prompt_ids_are_what_transformers_encodes(tokenizer_dirs, tmp_path):
    """The prompt's ids in training = `tokenizer(prompt text)` = `apply_chat_template(tokenize=True)`."""
    for bos in ("bos", "plain"):
        encoder = TextEncoder.from_dir(tokenizer_dirs[bos])
        ctx = TemplateContext(encoder.prompt_start, encoder.eos, encoder.directory)
        tokenizer = hf_tokenizer(tokenizer_dirs[bos], tmp_path / bos, chat_template("alpaca_ja", ctx))
        example = EXAMPLES[0]
        prompt = render("alpaca_ja", example, ctx)[0].text
        trained = encoder.encode(prompt)
        plain_text = prompt.removeprefix("<s>")
        assert tokenizer(plain_text)["input_ids"] == trained
        templated = tokenizer.apply_chat_template(chat_messages("alpaca_ja", example)[:1], tokenize=True,
                                                  add_generation_prompt=True, return_dict=True)
        assert templated["input_ids"] == trained
        assert (trained[0] == encoder.bos_id) == (bos == "bos")


def test_unknown_template_has_no_chat_form():
    with pytest.raises(ValueError, match="no chat template form"):
        chat_template("my_layout", TemplateContext("<s>", "</s>"))
