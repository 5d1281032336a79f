"""`jaforge chat`: talk to a model in the terminal, with its chat template and a streaming reply.

    jaforge chat --model runs/lifecycle-tiny/sft/merged
    jaforge chat --model runs/x/hf --system 'あなたは親切なアシスタントです。' --generation.temperature 0.7

Each turn is formatted with the model's chat template (tokenizer_config.json's `chat_template`,
as `tokenizer.apply_chat_template` would; the SFT stage writes the template it trained with), the
reply is generated with the key/value cache and printed token by token, and the conversation is
kept for the next turn. `/reset` starts a new conversation, `/exit` (or end of input) quits.
A model without a chat template is refused: its prompts would not look like anything it learned.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Optional, TextIO

from jaforge.errors import ConfigError
from jaforge.eval import GenerationConfig, load_backend
from jaforge.eval.generation import apply_repetition_penalty, cut_at_stop, next_tokens
from jaforge.paths import InputPath
from jaforge.stage_result import StageResult

EXIT, RESET = "/exit", "/reset"


@dataclass
class ChatConfig:
    model: InputPath = "runs/lifecycle-tiny/sft/merged"
    """A Hugging Face causal-LM directory or a jaforge model directory, with a chat template."""
    tokenizer: Optional[InputPath] = None
    """Tokenizer directory; default: found next to the model."""
    system: Optional[str] = None
    """A system message placed first in every conversation."""
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(max_new_tokens=256))
    """Decoding of each reply."""
    device: str = "auto"
    """torch device: auto (cuda when there is a GPU, else cpu), cpu, cuda, cuda:N or mps."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights' dtype: auto = float32 on CPU, bfloat16 on CUDA (float16 where bf16 is missing)."""


class Conversation:
    """Messages so far and the prompt text the chat template makes of them."""

    def __init__(self, tokenizer: Any, system: Optional[str]):
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ConfigError("'model': it has no chat template (tokenizer_config.json "
                              "chat_template); export an SFT model, or use `jaforge generate`")
        self.tokenizer, self.system = tokenizer, system
        self.messages: list[dict[str, str]] = []
        self.reset()

    def reset(self) -> None:
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    def prompt(self, user_text: str) -> str:
        self.messages.append({"role": "user", "content": user_text})
        return self.tokenizer.apply_chat_template(self.messages, tokenize=False,
                                                  add_generation_prompt=True)

    def answer(self, reply: str) -> None:
        self.messages.append({"role": "assistant", "content": reply})


def stream_reply(backend: Any, prompt: str, cfg: GenerationConfig, generator: Any) -> Iterator[str]:
    """The reply to `prompt`, piece by piece as its tokens are decoded (stops at EOS/stop strings)."""
    import torch

    # the template already wrote any special tokens the model expects, BOS included
    ids = backend.tokenizer.encode(prompt, add_special_tokens=False)
    ids = ids[-max(1, backend.max_length - cfg.max_new_tokens):]
    logits, contexts = backend.forward_contexts([ids])
    seen = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    seen[0, ids] = True
    new_ids: list[int] = []
    shown = ""
    for _ in range(min(cfg.max_new_tokens, backend.max_length - len(ids))):
        scores = apply_repetition_penalty(logits.float(), seen, cfg.repetition_penalty)
        chosen = next_tokens(scores, cfg, generator)
        token = int(chosen[0])
        if cfg.stop_at_eos and token == backend.tokenizer.eos_id:
            return
        new_ids.append(token)
        seen[0, token] = True
        text, stopped = cut_at_stop(backend.tokenizer.decode(new_ids), cfg.stop)
        if not text.endswith("\ufffd"):  # wait until a multi-byte character is complete
            yield text[len(shown):]
            shown = text
        if stopped:
            return
        logits = backend.decode_step(contexts, chosen)


def converse(backend: Any, cfg: ChatConfig, lines: TextIO, out: TextIO) -> int:
    """Read user lines, print streamed replies; returns the number of replies."""
    import torch

    conversation = Conversation(backend.tokenizer.hf, cfg.system)
    generator = torch.Generator(device="cpu").manual_seed(cfg.generation.seed)
    replies = 0
    out.write(f"jaforge chat — {cfg.model}; {RESET} starts over, {EXIT} quits\n")
    while True:
        out.write("\n> ")
        out.flush()
        line = lines.readline()
        if not line or line.strip() == EXIT:
            break
        if line.strip() == RESET:
            conversation.reset()
            out.write("(new conversation)\n")
            continue
        if not line.strip():
            continue
        reply = ""
        with torch.inference_mode():
            for piece in stream_reply(backend, conversation.prompt(line.rstrip("\n")), cfg.generation,
                                      generator):
                out.write(piece)
                out.flush()
                reply += piece
        out.write("\n")
        conversation.answer(reply)
        replies += 1
    return replies


def run(cfg: ChatConfig) -> StageResult:
    backend = load_backend(cfg.model, cfg.device, cfg.tokenizer, cfg.dtype)
    replies = converse(backend, cfg, sys.stdin, sys.stdout)
    return StageResult("chat", "", {}, {"replies": replies}, f"{replies} replies\n")
