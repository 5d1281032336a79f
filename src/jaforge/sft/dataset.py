"""The sft stage's data, end to end: mixture → contamination check → template → tokens → rows,
with a per-source report (examples, tokens, target tokens, truncated) written to data_report.json.

    data = prepare_data(cfg.data, encoder, objective="sft")
    data.rows          # training rows (packed or one example each), in training order
    data.held_out      # {source: [Encoded]} for response perplexity
    data.report        # {"sources": {...}, "contamination": {...}, "rows": N, …}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from jaforge.errors import ConfigError
from jaforge.sft.config import SFTDataConfig
from jaforge.sft.contamination import eval_ngrams, overlapping
from jaforge.sft.encoding import Encoded, Row, TextEncoder, encode, pack, pad_rows
from jaforge.sft.mixture import SFTExample, build_mixture, resolve_path
from jaforge.sft.templates import TemplateContext, render, with_reply

log = logging.getLogger(__name__)


@dataclass
class PreferenceItem:
    chosen: Encoded
    rejected: Encoded


@dataclass
class SFTData:
    rows: list[Any]
    """SFT: `Row`s; DPO: `PreferenceItem`s."""
    held_out: dict[str, list[Any]]
    """Per source: `Encoded` examples (response labels) or `PreferenceItem`s."""
    held_out_examples: dict[str, list[SFTExample]]
    report: dict = field(default_factory=dict)


def template_context(cfg: SFTDataConfig, encoder: TextEncoder) -> TemplateContext:
    """BOS text first exactly when the tokenizer adds BOS to a text (the BOS convention)."""
    return TemplateContext(encoder.prompt_start, encoder.eos, encoder.directory, cfg.chat_template)


def check_contamination(cfg: SFTDataConfig, train: list[SFTExample]) -> tuple[list[SFTExample], dict]:
    if not cfg.contamination_paths:
        return train, {"checked": 0, "overlapping": 0}
    paths = [resolve_path(p) for p in cfg.contamination_paths]
    report = overlapping(train, eval_ngrams(paths, cfg.contamination_ngram), cfg.contamination_ngram)
    if report["overlapping"]:
        message = (f"{report['overlapping']} of {report['checked']} training examples share a "
                   f"{cfg.contamination_ngram}-character n-gram with the evaluation files "
                   f"({', '.join(map(str, cfg.contamination_paths))}), e.g. {report['ids'][:5]}")
        if cfg.on_contamination == "error":
            raise ConfigError(f"'data.on_contamination' is error: {message}")
        log.warning("contamination: %s", message)
        if cfg.on_contamination == "drop":
            hit = set(report["ids"])
            train = [e for e in train if e.id not in hit]
    return train, report


def encode_example(example: SFTExample, cfg: SFTDataConfig, encoder: TextEncoder,
                   ctx: TemplateContext, loss_on: str) -> Any:
    item = encode(render(cfg.template, example, ctx), encoder, cfg.seq_len, loss_on)
    if example.rejected is None:
        return item
    rejected = encode(render(cfg.template, with_reply(example, example.rejected), ctx), encoder,
                      cfg.seq_len, loss_on)
    return PreferenceItem(item, rejected)


def _pieces(item: Any) -> list[Encoded]:
    return [item.chosen, item.rejected] if isinstance(item, PreferenceItem) else [item]


def source_report(examples: list[SFTExample], items: list[Any], drawn: dict[str, int]) -> dict:
    report = {name: {"examples": 0, "tokens": 0, "target_tokens": 0, "truncated": 0, "dropped": 0}
              for name in drawn}
    for example, item in zip(examples, items):
        entry = report[example.source]
        if item is None:
            entry["dropped"] += 1
            continue
        entry["examples"] += 1
        for piece in _pieces(item):
            entry["tokens"] += len(piece.ids)
            entry["target_tokens"] += piece.targets
            entry["truncated"] += piece.truncated
    return report


TRUNCATION_WARNING_SHARE = 0.05


def warn_truncation(report: dict, seq_len: int) -> None:
    """A warning per source whose examples are cut at `seq_len` more than a few % of the time."""
    for name, entry in report.items():
        seen = entry["examples"] + entry["dropped"]
        cut = entry["truncated"] + entry["dropped"]
        if seen and cut / seen > TRUNCATION_WARNING_SHARE:
            log.warning("sft: %d of %d %s examples are longer than data.seq_len %d and were cut (%d "
                        "lost every response token); raise data.seq_len (and the model's max_seq_len) "
                        "to keep them whole", cut, seen, name, seq_len, entry["dropped"])


def _usable(item: Any) -> bool:
    """Truncation can cut away every target token; such an example teaches nothing."""
    return all(piece.targets > 0 for piece in _pieces(item))


def prepare_data(cfg: SFTDataConfig, encoder: TextEncoder, objective: str = "sft") -> SFTData:
    mixture = build_mixture(cfg.sources, cfg.eval_fraction, cfg.eval_max, cfg.seed)
    paired = [e.rejected is not None for e in mixture.train]
    if objective == "dpo" and not all(paired):
        raise ConfigError("'objective': dpo needs preference sources only (format: preference)")
    train, contamination = check_contamination(cfg, mixture.train)
    ctx = template_context(cfg, encoder)
    items = [encode_example(e, cfg, encoder, ctx, cfg.loss_on) for e in train]
    items = [item if _usable(item) else None for item in items]
    report = source_report(train, items, mixture.drawn)
    warn_truncation(report, cfg.seq_len)
    kept = [item for item in items if item is not None]
    if not kept:
        raise ConfigError(f"'data.seq_len': no training example keeps a target token within {cfg.seq_len} tokens")
    if objective == "dpo":
        rows: list[Any] = kept
    else:
        rows = pack(kept, cfg.seq_len) if cfg.packing else pad_rows(kept)
    held_out = {name: [i for i in (encode_example(e, cfg, encoder, ctx, "response") for e in examples)
                       if _usable(i)] for name, examples in mixture.held_out.items()}
    totals = {key: sum(s[key] for s in report.values()) for key in next(iter(report.values()))}
    return SFTData(rows, held_out, mixture.held_out, {
        "sources": report, "total": totals, "rows": len(rows), "packing": cfg.packing,
        "seq_len": cfg.seq_len, "template": cfg.template, "loss_on": cfg.loss_on, "bos": encoder.add_bos,
        "held_out": {name: len(v) for name, v in held_out.items()}, "contamination": contamination,
        "row_fill": _fill(rows, cfg.seq_len) if objective != "dpo" else None})


def _fill(rows: list[Row], seq_len: int) -> float:
    """Share of the rows' seq_len slots holding real tokens."""
    return sum(len(r.ids) for r in rows) / max(1, len(rows) * seq_len)
