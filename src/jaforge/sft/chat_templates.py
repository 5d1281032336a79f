"""The sft templates as Jinja chat templates: what an sft export writes as the tokenizer's
`chat_template`, so that `tokenizer.apply_chat_template(messages, tokenize=False,
add_generation_prompt=True)` gives the prompt text the model was tuned on, character for character
(system messages and multi-turn conversations included).

    template = chat_template("alpaca_ja", ctx)       # Jinja text for tokenizer_config.json
    messages = chat_messages("alpaca_ja", example)   # the example as apply_chat_template takes it

alpaca_ja / llm_jp: the instruction layout of `jaforge.sft.templates`; the BOS token (only when the
tokenizer's convention adds BOS, as in training) and EOS are the tokenizer's `bos_token` and
`eos_token`. The first user message may carry an `input` key, the context block (Alpaca's
`### 入力:`), as examples with a context were trained. hf_chat: the template the run used (the
tokenizer's own or data.chat_template), unchanged; a context is appended to the first user message.
"""

from __future__ import annotations

import json

from jaforge.errors import ConfigError
from jaforge.sft.examples import SFTExample
from jaforge.sft.templates import (
    ALPACA_JA_PREAMBLE,
    ALPACA_JA_PREAMBLE_INPUT,
    LLM_JP_PREAMBLE,
    TemplateContext,
    chat_input_content,
)

# (preamble, preamble when the first instruction has a context, text between instruction and context)
INSTRUCTION_LAYOUTS = {
    "alpaca_ja": (ALPACA_JA_PREAMBLE, ALPACA_JA_PREAMBLE_INPUT, "\n\n### 入力:\n"),
    "llm_jp": (LLM_JP_PREAMBLE, LLM_JP_PREAMBLE, "\n\n"),
}


def _literal(text: str) -> str:
    """A Jinja string literal (JSON's escapes are Jinja's)."""
    return json.dumps(text, ensure_ascii=False)


def instruction_template(name: str, ctx: TemplateContext) -> str:
    """The Jinja of an instruction layout (alpaca_ja or llm_jp) for this tokenizer's BOS/EOS."""
    preamble, preamble_input, input_separator = INSTRUCTION_LAYOUTS[name]
    bos = "{{ bos_token }}" if ctx.bos else ""
    eos = " + eos_token" if ctx.eos else ""
    return (
        "{%- set ns = namespace(turns=messages, system='') -%}"
        "{%- if messages and messages[0]['role'] == 'system' -%}"
        "{%- set ns.system = messages[0]['content'] -%}{%- set ns.turns = messages[1:] -%}"
        "{%- endif -%}"
        "{%- set first = ns.turns[0] if ns.turns else {} -%}"
        "{%- set given = first['input'] if first['input'] is defined and first['input'] else '' -%}"
        f"{bos}"
        "{%- if ns.system -%}{{ ns.system }}"
        f"{{%- elif given | trim -%}}{{{{ {_literal(preamble_input)} }}}}"
        f"{{%- else -%}}{{{{ {_literal(preamble)} }}}}{{%- endif -%}}"
        "{{ '\\n\\n' }}"
        "{%- for m in ns.turns -%}"
        "{%- if m['role'] == 'user' -%}"
        "{%- if not loop.first -%}{{ '\\n\\n' }}{%- endif -%}"
        "{{ '### 指示:\\n' + m['content'] }}"
        f"{{%- if loop.first and given | trim -%}}{{{{ {_literal(input_separator)} + given }}}}{{%- endif -%}}"
        "{{ '\\n\\n' }}"
        "{%- elif m['role'] == 'assistant' -%}"
        f"{{{{ '### 応答:\\n' + m['content']{eos} }}}}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ '### 応答:\\n' }}{%- endif -%}"
    )


def chat_template(name: str, ctx: TemplateContext) -> str:
    """The chat template that reproduces template `name`'s prompts for this tokenizer."""
    if name in INSTRUCTION_LAYOUTS:
        return instruction_template(name, ctx)
    if name == "hf_chat":
        return ctx.chat_template or ctx.hf_tokenizer().chat_template
    raise ConfigError(f"'data.template': '{name}' has no chat template form; known: "
                     f"{', '.join([*INSTRUCTION_LAYOUTS, 'hf_chat'])}")


def chat_messages(name: str, example: SFTExample) -> list[dict[str, str]]:
    """The example's messages as `apply_chat_template` takes them under template `name`."""
    messages = [{"role": m.role, "content": m.content} for m in example.messages]
    if not example.input.strip():
        return messages
    first = next(i for i, m in enumerate(messages) if m["role"] == "user")
    if name == "hf_chat":
        messages[first]["content"] = chat_input_content(messages[first]["content"], example.input)
    else:
        messages[first]["input"] = example.input
    return messages
