"""Fast batch encoding gives exactly the ids of the directory's tokenizer.json."""

from __future__ import annotations

import pytest

from jaforge.tokenizer.encode import BatchEncoder
from jaforge.tokenizer.hf import load_hf

SKIP_REASON = "the 'tokenizer' extra (sentencepiece, tokenizers) is not installed"
spm = pytest.importorskip("sentencepiece", reason=SKIP_REASON)
pytest.importorskip("tokenizers", reason=SKIP_REASON)


def test_sentencepiece_backend_gives_tokenizer_json_ids(trained, ja_texts, en_texts):
    out = trained("unigram")
    encoder = BatchEncoder(out, num_threads=1)
    assert encoder.backend == "sentencepiece"
    hf = load_hf(out)
    texts = ja_texts + en_texts + ["", "  空白  と\n\n改行 ", "😀"]
    expected = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    assert encoder.encode_batch(texts) == expected
    framed = encoder.encode_batch(texts[:3], add_bos=True, add_eos=True)
    assert framed == [[1] + ids + [2] for ids in expected[:3]]


def test_tokenizers_backend_without_a_sentencepiece_model(trained, ja_texts):
    out = trained("hf_bpe")
    encoder = BatchEncoder(out)
    assert encoder.backend == "tokenizers"
    hf = load_hf(out)
    assert encoder.encode_batch(ja_texts[:20], add_eos=True) == \
        [e.ids + [2] for e in hf.encode_batch(ja_texts[:20], add_special_tokens=False)]


def test_special_token_strings_in_text_are_text(trained):
    for algorithm in ("unigram", "hf_bpe"):
        encoder = BatchEncoder(trained(algorithm))
        ids = encoder.encode_batch(["前<s>後</s>"])[0]
        assert 1 not in ids and 2 not in ids
        assert encoder.hf.decode(ids) == "前<s>後</s>"


def test_a_model_file_that_does_not_match_is_not_used(tmp_path, trained):
    import shutil

    shutil.copytree(trained("hf_bpe"), tmp_path / "t")
    shutil.copy(trained("unigram") / "tokenizer.model", tmp_path / "t" / "tokenizer.model")
    assert BatchEncoder(tmp_path / "t").backend == "tokenizers"
