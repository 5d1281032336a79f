"""Models the eval stage scores: jaforge checkpoints and Hugging Face causal-LM directories, behind
one small interface (tokenizer, batched forward passes with a key/value cache), on any torch device.

    from jaforge.eval import load_backend
    backend = load_backend("runs/lifecycle-tiny/hf")              # HF dir (config.json)
    backend = load_backend("runs/lifecycle-tiny/pretrain/model")  # jaforge dir (model_config.json)
    backend = load_backend("my-1b", device="cuda", dtype="bfloat16")
    last, contexts = backend.forward_contexts([ids, …])          # a batch of contexts, cached
    logits = backend.forward_continuations(contexts, rows, cont)  # each row after its context
    logits = backend.decode_step(contexts, next_tokens)           # one generated token per row

Tokenisation follows lm-evaluation-harness's `hf` model: special tokens as the tokenizer adds them
by default (BOS for Llama-style tokenizers), none when the text already starts with the BOS
string. The tokenizer is read with transformers when it is installed (so its BOS/EOS settings
and chat template apply) and encoded through its Rust backend; without transformers,
tokenizer.json is read with `tokenizers` and its post-processor decides the special tokens.
A missing, truncated or garbled model or tokenizer file fails naming that file.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from jaforge import model as jaforge_model
from jaforge.errors import ConfigError, InputError, JaforgeError
from jaforge.extras import require

WEIGHTS_DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_PATTERN = re.compile(r"cpu|mps|cuda(:\d+)?")


@contextlib.contextmanager
def model_file_errors(path: Path, what: str) -> Iterator[None]:
    """Any failure of the library reading `path` becomes one InputError naming it: safetensors
    and tokenizers raise plain `Exception`s for truncated or garbled files."""
    try:
        yield
    except (JaforgeError, MemoryError):
        raise
    except FileNotFoundError:
        raise InputError(path, f"not found (expected {what})") from None
    except Exception as err:  # noqa: BLE001 — the block only reads this one file
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(path, f"cannot be read as {what}: {detail[:300]}") from None


class TextTokenizer:
    """Encode/decode with the tokenizer's default special tokens (BOS as it adds it)."""

    def __init__(self, directory: Path):
        path = directory if directory.is_file() else directory / "tokenizer.json"
        if not path.exists():
            raise InputError(path, "not found (expected the model's tokenizer.json; eval config key 'tokenizer')")
        self.hf = None
        with model_file_errors(path, "a tokenizer.json"):
            try:
                transformers = require("transformers", "hf", "reading the tokenizer")
            except ImportError:
                transformers = None
            if transformers is not None:
                self.hf = transformers.AutoTokenizer.from_pretrained(str(path.parent))
                self.rust = self.hf.backend_tokenizer
                self.bos_id, self.eos_id = self.hf.bos_token_id, self.hf.eos_token_id
            else:
                self.rust = require("tokenizers", "tokenizer", "reading tokenizer.json").Tokenizer.from_file(str(path))
                self.bos_id, self.eos_id = self.rust.token_to_id("<s>"), self.rust.token_to_id("</s>")
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

    def chat_prompt(self, user_message: str) -> str:
        """The message through the tokenizer's chat template (with the assistant's turn opened),
        or the message itself when the tokenizer has no template."""
        if self.hf is None or not getattr(self.hf, "chat_template", None):
            return user_message
        return self.hf.apply_chat_template([{"role": "user", "content": user_message}],
                                           add_generation_prompt=True, tokenize=False)


@dataclass
class CachedContexts:
    """A batch of left-padded sequences after their forward pass: what continuations need."""

    cache: Any
    """The backend's key/value cache of the padded contexts."""
    real: Any
    """[batch, width] bool: True on the contexts' tokens, False on the left pads."""
    lengths: Any
    """[batch] real tokens of each row (the position of its next token)."""

    @property
    def padded(self) -> bool:
        return not bool(self.real.all())


def left_padded_positions(real):
    """Positions that start at 0 on each row's first real token (0 on the pads before it)."""
    return (real.long().cumsum(dim=1) - 1).clamp(min=0)


MIN_SHARED_PREFIX = 8
"""Fewest common first tokens worth a pass of their own."""


def shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """How many first tokens all sequences share (each keeps at least one of its own), or 0 when
    fewer than MIN_SHARED_PREFIX or a single sequence."""
    if len(sequences) < 2:
        return 0
    first, shortest = sequences[0], min(len(s) for s in sequences)
    common = 0
    while common < shortest - 1 and all(s[common] == first[common] for s in sequences):
        common += 1
    return common if common >= MIN_SHARED_PREFIX else 0


def _after_prefix(real, prefix: int):
    """The real-token mask with `prefix` real tokens in front."""
    import torch

    return torch.cat((real.new_ones((len(real), prefix)), real), dim=1) if prefix else real


def padded(sequences: Sequence[Sequence[int]], device, side: str = "left"):
    """Ids [B, W] of the sequences padded on `side` (with 0), and the mask of their real tokens."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.zeros((len(sequences), width), dtype=torch.long)
    real = torch.zeros((len(sequences), width), dtype=torch.bool)
    for i, s in enumerate(sequences):
        span = slice(width - len(s), width) if side == "left" else slice(0, len(s))
        ids[i, span] = torch.tensor(list(s), dtype=torch.long)
        real[i, span] = True
    return ids.to(device), real.to(device)


class Backend:
    """A causal LM + its tokenizer on `device`. Subclasses implement the forward passes."""

    name = "backend"
    max_batch_tokens: Optional[int] = None
    """Most (padded) context tokens per batched pass; None: only the batch size limits it."""

    def __init__(self, model: Any, tokenizer: TextTokenizer, max_length: int, device: str):
        self.model, self.tokenizer, self.max_length, self.device = model, tokenizer, max_length, device

    def forward(self, ids):
        """Logits [B, T, V] of a plain (unpadded or right-padded) causal pass."""
        raise NotImplementedError

    def forward_contexts(self, sequences: Sequence[Sequence[int]]):
        """A batch of token sequences, padded: each one's last-token logits [B, V] as if it ran
        alone, and their `CachedContexts` (`real` False on the pads). Their common first tokens
        (few-shot prompts share the description and the first instruction) run once, and
        their keys/values are shared by every row."""
        prefix = shared_prefix_length(sequences)
        cache = self._prefix_cache(sequences[0][:prefix], len(sequences)) if prefix else None
        return self._forward_rest([s[prefix:] for s in sequences], prefix, cache)

    def _prefix_cache(self, prefix: Sequence[int], rows: int):
        """The cache of `prefix` run once, repeated for `rows` rows."""
        raise NotImplementedError

    def _forward_rest(self, sequences: Sequence[Sequence[int]], prefix: int, cache):
        """`forward_contexts` for sequences that continue `cache` (`prefix` tokens; None: none)."""
        raise NotImplementedError

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        """Logits [R, L, V] of `ids` [R, L], row r continuing cached context `rows[r]` (a
        context may appear in several rows; consumes `contexts`). Right pads in `ids` are
        harmless: a token attends only to earlier ones."""
        raise NotImplementedError

    def decode_step(self, contexts: CachedContexts, tokens):
        """Last-position logits [B, V] after appending one token [B] to every row (updates
        `contexts` in place)."""
        raise NotImplementedError

    def keep_rows(self, contexts: CachedContexts, rows) -> CachedContexts:
        """The cached rows `rows` (a 1-D index), e.g. the sequences still being generated."""
        raise NotImplementedError

    def _continuation_positions(self, contexts: CachedContexts, rows, width: int):
        import torch

        rows = torch.as_tensor(rows, dtype=torch.long, device=contexts.lengths.device)
        offsets = torch.arange(width, device=contexts.lengths.device)
        return rows, contexts.lengths[rows][:, None] + offsets[None, :]

    @staticmethod
    def _grow(contexts: CachedContexts, width: int) -> None:
        import torch

        contexts.real = torch.cat((contexts.real, contexts.real.new_ones((len(contexts.real), width))), dim=1)
        contexts.lengths = contexts.lengths + width


class JaforgeBackend(Backend):
    name = "jaforge"

    def __init__(self, model: Any, tokenizer: TextTokenizer, max_length: int, device: str):
        super().__init__(model, tokenizer, max_length, device)
        # the jaforge model returns every position's logits: keep a batch's under 1 GiB (fp32)
        self.max_batch_tokens = max(max_length, 2**28 // model.config.vocab_size)

    def forward(self, ids):
        return self.model(ids).logits

    def _prefix_cache(self, prefix: Sequence[int], rows: int):
        import torch

        ids = torch.tensor([list(prefix)], device=self.device)
        cache = jaforge_model.KVCache()
        self.model(ids, segment_ids=torch.ones_like(ids), cache=cache)  # segment 1: the real tokens
        return cache.repeat_rows(rows)

    def _forward_rest(self, sequences: Sequence[Sequence[int]], prefix: int, cache):
        ids, real = padded(sequences, self.device, "left")
        cache = cache if cache is not None else jaforge_model.KVCache()
        if bool(real.all()):  # no padding: the plain causal pass (after the prefix, if any)
            logits = self.model(ids, cache=cache).logits
        else:
            # pads are segment 0, tokens (and the prefix) segment 1: a token never attends to a pad
            logits = self.model(ids, position_ids=prefix + left_padded_positions(real),
                                segment_ids=real.long(), cache=cache).logits
        return logits[:, -1], CachedContexts(cache, _after_prefix(real, prefix), prefix + real.sum(dim=1))

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        rows, positions = self._continuation_positions(contexts, rows, ids.shape[1])
        cache = contexts.cache.select_rows(rows)
        # no segment ids: the new tokens continue their row's last cached segment (its tokens)
        return self.model(ids, position_ids=positions, cache=cache).logits

    def decode_step(self, contexts: CachedContexts, tokens):
        positions = contexts.lengths[:, None] if contexts.padded else None
        logits = self.model(tokens[:, None], position_ids=positions, cache=contexts.cache).logits
        self._grow(contexts, 1)
        return logits[:, -1]

    def keep_rows(self, contexts: CachedContexts, rows) -> CachedContexts:
        return CachedContexts(contexts.cache.select_rows(rows), contexts.real[rows], contexts.lengths[rows])


class HFBackend(Backend):
    name = "hf"

    def __init__(self, model: Any, tokenizer: TextTokenizer, max_length: int, device: str):
        super().__init__(model, tokenizer, max_length, device)
        # transformers 5 names the cache argument `cache`; 4.x `past_key_values`
        self._cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters \
            else "past_key_values"

    def _call(self, ids, cache=None, **kwargs):
        out = self.model(input_ids=ids, use_cache=True, **{self._cache_arg: cache}, **kwargs)
        return out.logits, (out.cache if hasattr(out, "cache") else out.past_key_values)

    def forward(self, ids):
        return self.model(input_ids=ids, use_cache=False).logits

    def _prefix_cache(self, prefix: Sequence[int], rows: int):
        import torch

        _, cache = self._call(torch.tensor([list(prefix)], device=self.device), logits_to_keep=1)
        cache.batch_repeat_interleave(rows)
        return cache

    def _forward_rest(self, sequences: Sequence[Sequence[int]], prefix: int, cache):
        import torch

        # right padding: a real token never sees a later pad, so the pass needs no mask and takes
        # SDPA's causal kernel; later passes mask the pads out of the cache
        ids, real = padded(sequences, self.device, "right")
        lengths = real.sum(dim=1)
        last = torch.unique(lengths - 1)
        logits, cache = self._call(ids, cache, logits_to_keep=last)
        rows = torch.arange(len(sequences), device=ids.device)
        return (logits[rows, torch.searchsorted(last, lengths - 1)],
                CachedContexts(cache, _after_prefix(real, prefix), prefix + lengths))

    def forward_continuations(self, contexts: CachedContexts, rows: Sequence[int], ids):
        import torch

        rows, positions = self._continuation_positions(contexts, rows, ids.shape[1])
        contexts.cache.batch_select_indices(rows)
        mask = torch.cat((contexts.real[rows], torch.ones_like(ids, dtype=torch.bool)), dim=1)
        logits, _ = self._call(ids, contexts.cache, attention_mask=mask.long(), position_ids=positions)
        return logits

    def decode_step(self, contexts: CachedContexts, tokens):
        if contexts.padded:
            self._grow(contexts, 1)
            logits, contexts.cache = self._call(tokens[:, None], contexts.cache, logits_to_keep=1,
                                                attention_mask=contexts.real.long(),
                                                position_ids=contexts.lengths[:, None] - 1)
        else:
            logits, contexts.cache = self._call(tokens[:, None], contexts.cache, logits_to_keep=1)
            self._grow(contexts, 1)
        return logits[:, -1]

    def keep_rows(self, contexts: CachedContexts, rows) -> CachedContexts:
        contexts.cache.batch_select_indices(rows)
        return CachedContexts(contexts.cache, contexts.real[rows], contexts.lengths[rows])


def resolve_model_dir(path: str | Path) -> tuple[str, Path]:
    """('hf' | 'jaforge', directory) for an HF dir, a jaforge model dir or a pretrain output."""
    path = Path(path)
    if (path / "model_config.json").exists():
        return "jaforge", path
    if (path / "model" / "model_config.json").exists():
        return "jaforge", path / "model"
    if (path / "config.json").exists():
        return "hf", path
    raise InputError(path, "not a model directory (expected config.json of a Hugging Face model, "
                           "model_config.json of a jaforge model, or a pretrain output with "
                           "model/model_config.json; eval config key 'model')")


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

        with model_file_errors(config, "the pretrain run's config.yaml"):
            datasets = (yaml.safe_load(config.read_text("utf-8")) or {}).get("data", {}).get("datasets", [])
        for dataset in datasets:
            meta = Path(dataset.get("path", "")) / "meta.json"
            if meta.exists():
                with model_file_errors(meta, "the token shards' meta.json"):
                    name = json.loads(meta.read_text("utf-8")).get("tokenizer")
                if name:
                    return Path(name)
    raise InputError(model_dir, "no tokenizer.json next to the model or its pretrain run; "
                                "set eval config key 'tokenizer'")


def resolve_device(device: str) -> str:
    """`device` checked against this machine's torch (a clear error instead of a CUDA trace)."""
    torch = require("torch", "train", "the eval stage")
    if not DEVICE_PATTERN.fullmatch(device):
        raise ConfigError(f"eval config key 'device': '{device}' is not cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"eval config key 'device': {device} asked for, but torch "
                              f"{torch.__version__} sees no CUDA device")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"eval config key 'device': {device} asked for, but there are "
                              f"{torch.cuda.device_count()} CUDA devices")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("eval config key 'device': mps asked for, but it is not available")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """'auto' → float32 on CPU, bfloat16 on CUDA (float16 where bf16 is missing) and MPS float16."""
    if dtype not in WEIGHTS_DTYPES:
        raise ConfigError(f"eval config key 'dtype': '{dtype}' is not one of {', '.join(WEIGHTS_DTYPES)}")
    if dtype != "auto":
        return dtype
    torch = require("torch", "train", "the eval stage")
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float16" if device == "mps" else "float32"


def load_backend(path: str | Path, device: str = "cpu", tokenizer: Optional[str | Path] = None,
                 dtype: str = "auto", max_length: Optional[int] = None) -> Backend:
    """A backend for the model at `path` (see `resolve_model_dir`), in eval mode on `device`."""
    torch = require("torch", "train", "the eval stage")
    device = resolve_device(device)
    torch_dtype = getattr(torch, resolve_dtype(dtype, device))
    kind, directory = resolve_model_dir(path)
    config = directory / ("model_config.json" if kind == "jaforge" else "config.json")
    with model_file_errors(config, "a jaforge model_config.json" if kind == "jaforge" else "a Hugging Face config.json"):
        json.loads(config.read_text("utf-8"))
    text_tokenizer = TextTokenizer(find_tokenizer(directory, tokenizer))
    if kind == "jaforge":
        with model_file_errors(directory / "model.safetensors", "a jaforge model (model.safetensors "
                                                                "and model_config.json)"):
            model, cfg = jaforge_model.load_model(directory, device=device)
        return JaforgeBackend(model.to(torch_dtype).eval(), text_tokenizer, max_length or cfg.max_seq_len, device)
    transformers = require("transformers", "hf", "evaluating Hugging Face models")
    with model_file_errors(_weights_file(directory), "the model's weights"):
        # safetensors only: nothing read from disk may run code (no pickled checkpoints)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch_dtype,
                                                                  use_safetensors=True)
    model = model.to(device).eval()
    return HFBackend(model, text_tokenizer, max_length or hf_max_length(model, text_tokenizer), device)


def _weights_file(directory: Path) -> Path:
    for name in ("model.safetensors", "model.safetensors.index.json"):
        if (directory / name).exists():
            return directory / name
    return directory / "model.safetensors"


def hf_max_length(model: Any, tokenizer: TextTokenizer) -> int:
    """The context window as lm-eval's hf model reads it (config first, then the tokenizer)."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        if hasattr(model.config, attr):
            return int(getattr(model.config, attr))
    limit = getattr(tokenizer.hf, "model_max_length", None)
    return int(limit) if limit and limit < 10**9 else 2048
