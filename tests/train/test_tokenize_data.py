"""tokenize-data: the token shards decode back to the documents; the split is by document and seeded."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from jaforge.errors import InputError
from jaforge.train.data import TokenShard
from jaforge.tokenizer.tokenize_data import TokenizeDataConfig, is_validation, run, token_dtype


def corpus_texts(corpus: Path) -> dict[str, str]:
    texts = {}
    for shard in sorted((corpus / "data").glob("part-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            texts.update((r["id"], r["text"]) for r in map(json.loads, f))
    return texts


def test_decoding_the_token_shards_gives_back_every_document(token_dirs, corpus_dirs, tokenizer_dir):
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    texts = corpus_texts(corpus_dirs["ja"])
    decoded = []
    for split in ("train", "val"):
        shard = TokenShard(token_dirs["ja"], split)
        for i in range(len(shard.offsets) - 1):
            ids = shard.document(i).tolist()
            assert ids[-1] == 2 and 2 not in ids[:-1]  # one EOS, at the end
            assert ids[0] == 1 and 1 not in ids[1:]  # one BOS, at the start (the tokenizer adds it)
            decoded.append(tok.decode(ids[1:-1]))
    ordered = [t for i, t in texts.items() if not is_validation(i, 0, 0.1)] + \
              [t for i, t in texts.items() if is_validation(i, 0, 0.1)]
    assert decoded == ordered


def test_meta_counts_and_dtype(token_dirs):
    meta = json.loads((token_dirs["ja"] / "meta.json").read_text())
    assert meta["dtype"] == "uint16" and meta["eos_id"] == 2 and meta["bos"] is True and meta["bos_id"] == 1
    shard = TokenShard(token_dirs["ja"], "train")
    assert meta["splits"]["train"]["tokens"] == len(shard) == shard.offsets[-1]
    assert 0 < meta["splits"]["val"]["documents"] < meta["splits"]["train"]["documents"]
    assert token_dtype(70_000) == np.uint32


def test_character_counts_per_split_and_no_bos_when_asked(tmp_path, token_dirs, corpus_dirs, tokenizer_dir):
    meta = json.loads((token_dirs["ja"] / "meta.json").read_text())
    texts = corpus_texts(corpus_dirs["ja"])
    assert meta["splits"]["val"]["chars"] == sum(len(t) for i, t in texts.items() if is_validation(i, 0, 0.1))
    assert meta["splits"]["train"]["chars"] + meta["splits"]["val"]["chars"] == sum(map(len, texts.values()))
    result = run(TokenizeDataConfig(input=[str(corpus_dirs["ja"] / "data")], tokenizer=str(tokenizer_dir),
                                    output_dir=str(tmp_path / "nobos"), val_fraction=0.1, add_bos=False))
    plain = json.loads((tmp_path / "nobos" / "meta.json").read_text())
    assert plain["bos"] is False and plain["bos_id"] is None
    assert plain["splits"]["train"]["tokens"] == meta["splits"]["train"]["tokens"] - meta["splits"]["train"]["documents"]
    assert result.metrics["vocab_size"] == meta["vocab_size"] and result.outputs["tokens"] == str(tmp_path / "nobos")


def test_split_is_by_document_and_depends_on_the_seed():
    ids = [f"doc-{i}" for i in range(2000)]
    held = [i for i in ids if is_validation(i, 0, 0.1)]
    assert 150 < len(held) < 250
    assert held != [i for i in ids if is_validation(i, 1, 0.1)]
    assert held == [i for i in ids if is_validation(i, 0, 0.1)]


def test_parallel_encoding_writes_the_same_bytes(tmp_path, corpus_dirs, tokenizer_dir, token_dirs):
    cfg = TokenizeDataConfig(input=[str(corpus_dirs["ja"] / "data")], tokenizer=str(tokenizer_dir),
                             output_dir=str(tmp_path / "par"), val_fraction=0.1, workers=2, batch_size=7)
    run(cfg)
    for name in ("train.bin", "val.bin"):
        assert (tmp_path / "par" / name).read_bytes() == (token_dirs["ja"] / name).read_bytes()
    assert (tmp_path / "par" / "config.yaml").exists()


def test_missing_input_and_tokenizer_fail_clearly_before_touching_the_output(tmp_path, tokenizer_dir, token_dirs):
    meta = (token_dirs["ja"] / "meta.json").read_bytes()
    with pytest.raises(InputError, match="nope: not found"):
        run(TokenizeDataConfig(input=[str(tmp_path / "nope")], tokenizer=str(tokenizer_dir),
                               output_dir=str(token_dirs["ja"])))
    with pytest.raises(InputError, match="tokenizer.json"):
        run(TokenizeDataConfig(input=[str(tmp_path)], tokenizer=str(tmp_path), output_dir=str(token_dirs["ja"])))
    assert (token_dirs["ja"] / "meta.json").read_bytes() == meta  # a failed rerun keeps a working shard dir
