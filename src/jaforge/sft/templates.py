"""Prompt templates by name: an example → text segments, each marked prompt or response.

    from jaforge.sft.templates import TEMPLATES, TemplateContext
    segments = TEMPLATES.get("alpaca_ja")(example, TemplateContext(bos="<s>", eos="</s>"))
    # [Segment("<s>以下は、タスクを説明する指示です。…### 応答:\n", False), Segment("信濃川です。</s>", True)]

- `alpaca_ja`: the Japanese Alpaca layout of the LoRA-tuning paper (Suzuki, Hirano, Sakaji 2023),
  one preamble without 入力 and another with a `### 入力:` block when the example has a context.
- `llm_jp`: the llm-jp-sft layout, `### 指示:` / `### 応答:`, the context inside the instruction.
- `hf_chat`: the tokenizer's own `chat_template` (or one given in the config), via transformers.

Multi-turn conversations repeat the instruction/response blocks. Each response ends with the EOS
token (as text, which tokenizers turn into the special token) so the model learns to stop; the
BOS token's text comes first when the tokenizer's convention adds BOS (`TemplateContext.bos`).
`jaforge.sft.chat_templates` writes each layout as a Jinja chat template for the export.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from jaforge.errors import ConfigError
from jaforge.extras import require
from jaforge.registry import Registry
from jaforge.sft.data import Message
from jaforge.sft.examples import SFTExample


class Segment(NamedTuple):
    text: str
    response: bool


@dataclass
class TemplateContext:
    bos: str = ""
    """BOS token text put before every example ('' when the tokenizer has none)."""
    eos: str = ""
    """EOS token text put after every response."""
    tokenizer_dir: Optional[Path] = None
    """hf_chat: the directory AutoTokenizer loads."""
    chat_template: str = ""
    """hf_chat: a Jinja template overriding the tokenizer's."""
    _hf: Any = field(default=None, repr=False)

    def hf_tokenizer(self) -> Any:
        if self._hf is None:
            transformers = require("transformers", "hf", "the hf_chat template")
            if self.tokenizer_dir is None:
                raise ValueError("the hf_chat template needs a tokenizer directory")
            self._hf = transformers.AutoTokenizer.from_pretrained(str(self.tokenizer_dir))
            if self.chat_template:
                self._hf.chat_template = self.chat_template
            if not getattr(self._hf, "chat_template", None):
                raise ConfigError(f"'data.template' hf_chat: {self.tokenizer_dir}: the tokenizer has no chat_template; set "
                                 "data.chat_template or choose data.template alpaca_ja / llm_jp")
        return self._hf


Template = Callable[[SFTExample, TemplateContext], list[Segment]]
TEMPLATES: Registry[Template] = Registry("template")

ALPACA_JA_PREAMBLE = "以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。"
ALPACA_JA_PREAMBLE_INPUT = ("以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。"
                            "要求を適切に満たす応答を書きなさい。")
LLM_JP_PREAMBLE = "以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。"


def _turns(example: SFTExample) -> tuple[str, list[Message]]:
    """(system text, user/assistant messages)."""
    messages = example.messages
    if messages and messages[0].role == "system":
        return messages[0].content, messages[1:]
    return "", messages


def _instruction_blocks(example: SFTExample, ctx: TemplateContext, preamble: str,
                        first_user: Callable[[str, str], str]) -> list[Segment]:
    system, turns = _turns(example)
    segments = []
    prompt = ctx.bos + (system or preamble) + "\n\n"
    for i, message in enumerate(turns):
        if message.role == "user":
            body = first_user(message.content, example.input) if i == 0 else message.content
            prompt += f"### 指示:\n{body}\n\n### 応答:\n"
        else:
            segments += [Segment(prompt, False), Segment(message.content + ctx.eos, True)]
            prompt = "\n\n"
    return segments


@TEMPLATES.register("alpaca_ja")
def alpaca_ja(example: SFTExample, ctx: TemplateContext) -> list[Segment]:
    preamble = ALPACA_JA_PREAMBLE_INPUT if example.input.strip() else ALPACA_JA_PREAMBLE

    def first_user(instruction: str, given: str) -> str:
        return f"{instruction}\n\n### 入力:\n{given}" if given.strip() else instruction

    return _instruction_blocks(example, ctx, preamble, first_user)


@TEMPLATES.register("llm_jp")
def llm_jp(example: SFTExample, ctx: TemplateContext) -> list[Segment]:
    def first_user(instruction: str, given: str) -> str:
        return f"{instruction}\n\n{given}" if given.strip() else instruction

    return _instruction_blocks(example, ctx, LLM_JP_PREAMBLE, first_user)


def chat_input_content(content: str, given: str) -> str:
    """hf_chat: a context joins the first user message (chat templates have no field for it)."""
    return content + "\n\n" + given


@TEMPLATES.register("hf_chat")
def hf_chat(example: SFTExample, ctx: TemplateContext) -> list[Segment]:
    """Render growing prefixes of the conversation: what an assistant turn adds is a response,
    what the next user turn (and the generation prompt) adds is prompt."""
    tokenizer = ctx.hf_tokenizer()
    messages = [{"role": m.role, "content": m.content} for m in example.messages]
    if example.input.strip():
        first = next(i for i, m in enumerate(messages) if m["role"] == "user")
        messages[first]["content"] = chat_input_content(messages[first]["content"], example.input)
    segments, done = [], ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages[:i + 1], tokenize=False)
        if not (prompt.startswith(done) and full.startswith(prompt)):
            raise ValueError(f"example {example.id}: the chat template does not render each turn as "
                             "an extension of the previous ones; response masking needs that")
        segments += [Segment(prompt[len(done):], False), Segment(full[len(prompt):], True)]
        done = full
    return segments


def render(template: str, example: SFTExample, ctx: TemplateContext) -> list[Segment]:
    segments = TEMPLATES.get(template)(example, ctx)
    if not any(s.response for s in segments):
        raise ValueError(f"example {example.id}: the template gave no response to learn from")
    return segments


def with_reply(example: SFTExample, reply: str) -> SFTExample:
    """The example with its final assistant message replaced (the rejected side of a pair)."""
    return replace(example, messages=example.messages[:-1] + [Message("assistant", reply)], rejected=None)


def prompt_text(template: str, example: SFTExample, ctx: TemplateContext) -> str:
    """Everything before the final response: what a model is asked to continue."""
    segments = render(template, example, ctx)
    return "".join(s.text for s in segments[:-1])
