"""Chat vectors (Huang et al., 2023, https://arxiv.org/abs/2310.04799): give a continually pretrained
model the instruction following of a chat model made from the same base, without instruction tuning.

    jaforge merge-chat-vector --continual runs/cp/hf --chat runs/chat/hf --base_model runs/base/hf \
        --alpha 1.0 --exclude '[lm_head]' --output_dir runs/cp-chat

θ = θ_cp + α·(θ_chat − θ_base) for every tensor that `include` matches and `exclude` does not; the
others keep θ_cp. The continual model's vocabulary may be larger (an expanded tokenizer): its
embedding and output-head rows are matched to the chat and base models' rows by token string, so
tokens all three share receive the vector and the new tokens keep θ_cp (their rows mean nothing in
the chat and base models). Tensors are read and written one at a time.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import yaml

from jaforge.config import to_dict, validate
from jaforge.errors import ConfigError, InputError
from jaforge.merge.card import MergeFacts, merge_licence, write_card
from jaforge.merge.config import ChatVectorConfig
from jaforge.merge.engine import parse_dtype
from jaforge.merge.models import InputModel, is_vocabulary_tensor
from jaforge.merge.output import (chat_template_of, check_output_dir, copy_tokenizer_files, remove_stale_weights,
                                  write_hf_config)
from jaforge.merge.tensors import ShardWriter, TensorInfo
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult

log = logging.getLogger(__name__)
PAPER = "https://arxiv.org/abs/2310.04799"


@dataclass
class SharedRows:
    """Rows of the continual model's vocabulary tensors that chat and base also have."""
    cp: list[int]
    chat: list[int]
    base: list[int]


def shared_rows(cp: InputModel, chat: InputModel, base: InputModel, n_rows: tuple[int, int, int]) -> SharedRows:
    """Match rows by token string; without tokenizers, by index (all three vocabularies equal in size)."""
    vocabs = [m.vocabulary() for m in (cp, chat, base)]
    if any(v is None for v in vocabs):
        if len(set(n_rows)) > 1:
            missing = [str(m.path) for m, v in zip((cp, chat, base), vocabs) if v is None]
            raise InputError(missing[0], "has no tokenizer.json, and the vocabularies differ in size: "
                             "rows cannot be matched by token string")
        log.warning("a model has no tokenizer.json: embedding rows are matched by index")
        rows = list(range(n_rows[0]))
        return SharedRows(rows, rows, rows)
    v_cp, v_chat, v_base = vocabs
    found = sorted((i, v_chat[s], v_base[s]) for s, i in v_cp.items()
                   if s in v_chat and s in v_base and i < n_rows[0] and v_chat[s] < n_rows[1] and v_base[s] < n_rows[2])
    return SharedRows([f[0] for f in found], [f[1] for f in found], [f[2] for f in found])


def receives_vector(name: str, cfg: ChatVectorConfig) -> bool:
    return (any(re.search(p, name) for p in cfg.include) and not any(re.search(p, name) for p in cfg.exclude))


def check_patterns(cfg: ChatVectorConfig) -> None:
    for key in ("include", "exclude"):
        for i, pattern in enumerate(getattr(cfg, key)):
            try:
                re.compile(pattern)
            except re.error as err:
                raise ConfigError(f"'{key}[{i}]': {pattern!r} is not a regular expression ({err})") from None


def plan_tensors(cp: InputModel, chat: InputModel, base: InputModel, dtype: Optional[torch.dtype]
                 ) -> list[tuple[str, TensorInfo]]:
    """The continual model's tensors, after checking chat and base have each with a fitting shape."""
    planned = []
    for name in cp.names():
        info = cp.info(name)
        for other in (chat, base):
            if not other.has(name):
                raise InputError(other.path, f"has no tensor '{name}' (the continual model has it)")
            shape = other.info(name).shape
            fits = shape[1:] == info.shape[1:] if is_vocabulary_tensor(name) else shape == info.shape
            if not fits:
                raise InputError(other.path, f"tensor '{name}' has shape {list(shape)}, the continual model "
                                 f"{list(info.shape)}")
        planned.append((name, TensorInfo(dtype if dtype and info.dtype.is_floating_point else info.dtype, info.shape)))
    return planned


def chat_vector_tensor(name: str, cp: InputModel, chat: InputModel, base: InputModel, alpha: float,
                       rows: Optional[SharedRows]) -> torch.Tensor:
    """θ_cp + α·(θ_chat − θ_base) for one tensor (vocabulary tensors: on the shared rows only)."""
    theta, theta_chat, theta_base = (m.read(name).float() for m in (cp, chat, base))
    if rows is None:
        return theta.add_(theta_chat.sub_(theta_base), alpha=alpha)
    theta[rows.cp] += alpha * (theta_chat[rows.chat] - theta_base[rows.base])
    return theta


def run(cfg: ChatVectorConfig) -> StageResult:
    """Write θ_cp + α·(θ_chat − θ_base) into cfg.output_dir (an HF directory)."""
    validate(cfg)
    check_patterns(cfg)
    started = time.perf_counter()
    cp, chat, base = (InputModel.open(p) for p in (cfg.continual, cfg.chat, cfg.base_model))
    planned = plan_tensors(cp, chat, base, parse_dtype(cfg.dtype, "dtype"))
    counts = {"vector": 0, "kept": 0, "shared_rows": 0, "new_rows": 0}
    out = Path(cfg.output_dir)
    check_output_dir(out, [cp.path, chat.path, base.path])
    licence = merge_licence(cfg.card, [cp.path, chat.path, base.path]) if cfg.model_card else None
    with open_run(out, "merge-chat-vector", cfg):
        with ShardWriter(out, planned, cfg.max_shard_bytes) as writer:
            for name, info in planned:
                rows = None
                if is_vocabulary_tensor(name):
                    rows = shared_rows(cp, chat, base, (info.shape[0], chat.info(name).shape[0], base.info(name).shape[0]))
                    counts["shared_rows"], counts["new_rows"] = len(rows.cp), info.shape[0] - len(rows.cp)
                if receives_vector(name, cfg) and info.dtype.is_floating_point:
                    tensor = chat_vector_tensor(name, cp, chat, base, cfg.alpha, rows)
                    counts["vector"] += 1
                else:
                    tensor = cp.read(name)
                    counts["kept"] += 1
                writer.write(name, tensor.to(info.dtype))
            shards = list(writer.names)
        remove_stale_weights(out, shards)
        written = planned[0][1].dtype
        write_hf_config(out, cp.config, written)
        # the instruction following comes from the chat model, and so does the prompt format
        copy_tokenizer_files(cp.tokenizer_dir, out, chat_template=chat_template_of(chat.tokenizer_dir),
                             extra_from=cp.path)
        if licence is not None:
            recipe = yaml.safe_dump({k: v for k, v in to_dict(cfg).items() if k not in ("model_card", "card")},
                                    allow_unicode=True, sort_keys=False)
            write_card(out, cfg.card, licence, MergeFacts(
                f"{out.name}: chat vector", [cfg.continual, cfg.chat, cfg.base_model], recipe, "chat vector", PAPER,
                summary=f"θ = θ_cp + {cfg.alpha}·(θ_chat − θ_base) on {counts['vector']} tensors; "
                        f"{counts['new_rows']} new token rows keep θ_cp."))
        metrics = {**counts, "alpha": cfg.alpha, "seconds": round(time.perf_counter() - started, 3)}
        rows_md = "\n".join(f"| {k} | {v} |" for k, v in metrics.items())
        outputs = {"model": str(out), **({"model_card": str(out / "README.md")} if licence else {})}
        result = StageResult("merge-chat-vector", str(out), outputs=outputs, metrics=metrics,
                             summary=f"Chat vector added to `{cfg.continual}` → `{out}`\n\n| | |\n|---|---|\n{rows_md}\n")
        result.write()
    return result
