"""Models the eval stage scores: jaforge checkpoints and Hugging Face causal-LM directories, behind
one small interface (tokenizer, forward pass with a key/value cache).

    from jaforge.eval import load_backend
    backend = load_backend("runs/lifecycle-tiny/hf")              # HF dir (config.json)
    backend = load_backend("runs/lifecycle-tiny/pretrain/model")  # jaforge dir (model_config.json)
    backend = load_backend("runs/lifecycle-tiny/pretrain")        # pretrain output: its model/
    backend.continuation_logprobs(context_ids, [choice_ids, …])   # log P(choice | context) each
    last, contexts = backend.forward_contexts(ids, real)          # left-padded contexts, cached
    logits = backend.forward_continuations(contexts, rows, cont)  # each row after its context

Tokenisation follows lm-evaluation-harness's `hf` model: special tokens as the tokenizer adds them
by default (BOS for Llama-style tokenizers), none when the text already starts with the BOS
string. The tokenizer is read with transformers when it is installed (so its BOS/EOS settings
apply) and encoded through its Rust backend; without transformers, tokenizer.json is read with
`tokenizers` and its post-processor decides the special tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from jaforge.extras import require

WEIGHTS_DTYPES = ("float32", "bfloat16", "float16")


class TextTokenizer:
    """Encode/decode with the tokenizer's default special tokens (BOS as it adds it)."""

    def __init__(self, directory: Path):
        path = directory if directory.is_file() else directory / "tokenizer.json"
        self.hf = None
        try:
            transformers = require("transformers", "hf", "reading the tokenizer")
            self.hf = transformers.AutoTokenizer.from_pretrained(str(path.parent))
            self.rust = self.hf.backend_tokenizer
            self.bos_id, self.eos_id = self.hf.bos_token_id, self.hf.eos_token_id
        except ImportError:
            tokenizers = require("tokenizers", "tokenizer", "reading tokenizer.json")
            if not path.exists():
                raise FileNotFoundError(f"{path} not found: no tokenizer.json for the eval stage")
            self.rust = tokenizers.Tokenizer.from_file(str(path))
            self.bos_id = self.rust.token_to_id("<s>")
            self.eos_id = self.rust.token_to_id("</s>")
        self.bos_text = self.decode([self.bos_id], skip_special_tokens=False) \
            if self.bos_id is not None else None

    def encode_batch(self, texts: Sequence[str], add_special_tokens: Optional[bool] = None
                     ) -> list[list[int]]:
        """Token ids of each text; special tokens by default unless the text starts with BOS."""
        if add_special_tokens is not None:
            return [e.ids for e in self.rust.encode_batch(list(texts), add_special_tokens=add_special_tokens)]
        plain = [bool(self.bos_text) and t.startswith(self.bos_text) for t in texts]
        if not any(plain):
            return [e.ids for e in self.rust.encode_batch(list(texts), add_special_tokens=True)]
        return [self.rust.encode(t, add_special_tokens=not p).ids for t, p in zip(texts, plain)]

    def encode(self, text: str, add_special_tokens: Optional[bool] = None) -> list[int]:
        return self.encode_batch([text], add_special_tokens)[0]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        if self.hf is not None:
            return self.hf.decode(list(ids), skip_special_tokens=skip_special_tokens)
        return self.rust.decode(list(ids), skip_special_tokens=skip_special_tokens)


@dataclass
class CachedContexts:
    """A batch of left-padded contexts after their forward pass: what continuations need."""

    cache: Any
    """The backend's key/value cache of the padded contexts."""
    real: Any
    """[batch, width] bool: True on the contexts' tokens, False on the left pads."""
    lengths: Any
    """[batch] tokens of each context (the first continuation token's position)."""


def left_padded_positions(real):
    """Positions that start at 0 on each row's first real token (0 on the pads before it)."""
    return (real.long().cumsum(dim=1) - 1).clamp(min=0)


class Backend:
    """A causal LM + its tokenizer. Subclasses implement `forward`, `repeat_cache`,
    `forward_contexts` and `forward_continuations`."""

    name = "backend"
    max_batch_tokens: Optional[int] = None
    """Most (padded) context tokens per batched pass; None: only the batch size limits it."""

    def __init__(self, model: Any, tokenizer: TextTokenizer, max_length: int, device: str):
        self.model, self.tokenizer, self.max_length, self.device = model, tokenizer, max_length, device

    def forward(self, ids, cache=None, last_only: bool = False):
        """Logits [B, T, V] (only the last position when `last_only`) and the cache, which now
        also holds `ids`; `cache=None` starts a fresh one."""
        raise NotImplementedError

    def repeat_cache(self, cache, n: int):
        """The cache with each row repeated n times (may consume `cache`)."""
        raise NotImplementedError

    def forward_contexts(self, ids, real):
        """Left-padded contexts `ids` [B, W] (`real` [B, W] False on the pads) in one pass:
        each row's last-position logits [B, V] as if it ran alone, and its `CachedContexts`."""
        raise NotImplementedError

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        """Logits [R, L, V] of `ids` [R, L], row r continuing cached context `rows[r]` (a
        context may appear in several rows; consumes `contexts`). Right pads in `ids` are
        harmless: a token attends only to earlier ones."""
        raise NotImplementedError

    def continuation_logprobs(self, context_ids: Sequence[int],
                              continuations_ids: Sequence[Sequence[int]]) -> list[float]:
        """log P(continuation | context) of each continuation: the context runs once, the
        continuations run together against its cached keys/values."""
        from jaforge.eval.scoring import continuation_logprobs

        return continuation_logprobs(self, context_ids, continuations_ids)

    def _continuation_positions(self, contexts: CachedContexts, rows, width: int):
        import torch

        rows = torch.as_tensor(rows, dtype=torch.long, device=contexts.lengths.device)
        offsets = torch.arange(width, device=contexts.lengths.device)
        return rows, contexts.lengths[rows][:, None] + offsets[None, :]


class JaforgeBackend(Backend):
    name = "jaforge"

    def __init__(self, model: Any, tokenizer: TextTokenizer, max_length: int, device: str):
        super().__init__(model, tokenizer, max_length, device)
        # the jaforge model returns every position's logits: keep a batch's under 1 GiB (fp32)
        self.max_batch_tokens = max(max_length, 2**28 // model.config.vocab_size)

    def forward(self, ids, cache=None, last_only: bool = False):
        from jaforge.model import KVCache

        cache = KVCache() if cache is None else cache
        logits = self.model(ids, cache=cache).logits
        return (logits[:, -1:] if last_only else logits), cache

    def repeat_cache(self, cache, n: int):
        return cache if n == 1 else cache.repeat_rows(n)

    def forward_contexts(self, ids, real):
        from jaforge.model import KVCache

        cache = KVCache()
        if bool(real.all()):  # no padding: the plain causal pass
            logits = self.model(ids, cache=cache).logits
        else:
            # pads are segment 0, tokens segment 1: a token never attends to a pad
            logits = self.model(ids, position_ids=left_padded_positions(real),
                                segment_ids=real.long(), cache=cache).logits
        return logits[:, -1], CachedContexts(cache, real, real.sum(dim=1))

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        rows, positions = self._continuation_positions(contexts, rows, ids.shape[1])
        cache = contexts.cache.select_rows(rows)
        # no segment ids: the new tokens continue their row's last cached segment (its tokens)
        return self.model(ids, position_ids=positions, cache=cache).logits


class HFBackend(Backend):
    name = "hf"

    def forward(self, ids, cache=None, last_only: bool = False):
        out = self.model(input_ids=ids, past_key_values=cache, use_cache=True,
                         logits_to_keep=1 if last_only else 0)
        return out.logits, out.past_key_values

    def repeat_cache(self, cache, n: int):
        if n > 1:
            cache.batch_repeat_interleave(n)
        return cache

    def forward_contexts(self, ids, real):
        if bool(real.all()):
            out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        else:
            out = self.model(input_ids=ids, attention_mask=real.long(),
                             position_ids=left_padded_positions(real), use_cache=True, logits_to_keep=1)
        return out.logits[:, -1], CachedContexts(out.past_key_values, real, real.sum(dim=1))

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        import torch

        rows, positions = self._continuation_positions(contexts, rows, ids.shape[1])
        cache = contexts.cache
        cache.batch_select_indices(rows)
        mask = torch.cat((contexts.real[rows], torch.ones_like(ids, dtype=torch.bool)), dim=1)
        out = self.model(input_ids=ids, attention_mask=mask.long(), position_ids=positions,
                         past_key_values=cache, use_cache=True)
        return out.logits


def resolve_model_dir(path: str | Path) -> tuple[str, Path]:
    """('hf' | 'jaforge', directory) for an HF dir, a jaforge model dir or a pretrain output."""
    path = Path(path)
    if (path / "model_config.json").exists():
        return "jaforge", path
    if (path / "model" / "model_config.json").exists():
        return "jaforge", path / "model"
    if (path / "config.json").exists():
        return "hf", path
    raise FileNotFoundError(f"{path}: not a model directory (expected config.json of a Hugging Face "
                            f"model, model_config.json of a jaforge model, or a pretrain output "
                            f"with model/model_config.json)")


def find_tokenizer(model_dir: Path, tokenizer: Optional[str | Path] = None) -> Path:
    """The tokenizer: given, next to the model, in the pretrain output, or the one that made the
    pretrain run's token shards (tokens/meta.json)."""
    if tokenizer is not None:
        return Path(tokenizer)
    for candidate in (model_dir, model_dir.parent, model_dir.parent / "tokenizer"):
        if (candidate / "tokenizer.json").exists():
            return candidate
    config = model_dir.parent / "config.yaml"
    if config.exists():
        import yaml

        datasets = (yaml.safe_load(config.read_text("utf-8")) or {}).get("data", {}).get("datasets", [])
        for dataset in datasets:
            meta = Path(dataset.get("path", "")) / "meta.json"
            if meta.exists() and json.loads(meta.read_text("utf-8")).get("tokenizer"):
                return Path(json.loads(meta.read_text("utf-8"))["tokenizer"])
    raise FileNotFoundError(f"no tokenizer.json found for {model_dir}; pass tokenizer=<dir>")


def load_backend(path: str | Path, device: str = "cpu", tokenizer: Optional[str | Path] = None,
                 dtype: str = "float32", max_length: Optional[int] = None) -> Backend:
    """A backend for the model at `path` (see `resolve_model_dir`), in eval mode on `device`."""
    torch = require("torch", "train", "the eval stage")
    if dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"dtype '{dtype}' is not one of {', '.join(WEIGHTS_DTYPES)}")
    kind, directory = resolve_model_dir(path)
    text_tokenizer = TextTokenizer(find_tokenizer(directory, tokenizer))
    torch_dtype = getattr(torch, dtype)
    if kind == "jaforge":
        from jaforge.model import load_model

        model, cfg = load_model(directory, device=device)
        model = model.to(torch_dtype).eval()
        return JaforgeBackend(model, text_tokenizer, max_length or cfg.max_seq_len, device)
    transformers = require("transformers", "hf", "evaluating Hugging Face models")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch_dtype)
    model = model.to(device).eval()
    return HFBackend(model, text_tokenizer, max_length or hf_max_length(model, text_tokenizer), device)


def hf_max_length(model: Any, tokenizer: TextTokenizer) -> int:
    """The context window as lm-eval's hf model reads it (config first, then the tokenizer)."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        if hasattr(model.config, attr):
            return int(getattr(model.config, attr))
    limit = getattr(tokenizer.hf, "model_max_length", None)
    return int(limit) if limit and limit < 10**9 else 2048
