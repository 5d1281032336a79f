"""The parallel-text stage: TSV and JSONL pairs → pretraining documents; held-out pairs never reach
the training text; the translation prompt is the training template cut before the target."""

import json

import pytest

from jaforge.config import build
from jaforge.corpus.embedded import EmbeddedTextConfig
from jaforge.corpus.embedded import run as embedded_text
from jaforge.corpus.parallel import (ParallelTextConfig, prompt_and_target, read_pairs, render,
                                     run)
from jaforge.errors import ConfigError, InputError

from conftest import DATA, write_jsonl

PAIRS = [{"id": f"p{i}", "en": f"Sentence {i} ends here.", "ja": f"文{i}番です。",
          "split": "test" if i % 5 == 0 else "train"} for i in range(20)]


def config(tmp_path, **changes) -> ParallelTextConfig:
    return build(ParallelTextConfig, {"output_dir": str(tmp_path / "out"), "pairs_per_document": 3, **changes})


def training_text(out) -> str:
    lines = (out / "data" / "part-00000.jsonl").read_text("utf-8").splitlines()
    return "\n\n".join(json.loads(line)["text"] for line in lines)


def test_tsv_and_jsonl_give_the_same_pairs(tmp_path):
    jsonl = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    header = tmp_path / "h.tsv"
    header.write_text("ja\ten\n" + "".join(f"{p['ja']}\t{p['en']}\n" for p in PAIRS), "utf-8")
    crawl = tmp_path / "c.tsv"  # JParaCrawl-style: url, score, en, ja
    crawl.write_text("".join(f"http://x\t0.8\t{p['en']}\t{p['ja']}\n" for p in PAIRS), "utf-8")
    cfg = config(tmp_path, columns=["url", "score", "en", "ja"])
    texts = [[(p.en, p.ja) for p in read_pairs(path, cfg)] for path in (jsonl, header, crawl)]
    assert texts[0] == texts[1] == texts[2] and len(texts[0]) == 20


def test_held_out_pairs_never_reach_the_training_text(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    extra = write_jsonl(tmp_path / "extra.jsonl", [{"en": "Sentence 7 ends here.", "ja": "別の訳。"}])
    result = run(config(tmp_path, input=[str(path)], holdout=[str(extra)]))
    text = training_text(tmp_path / "out")
    heldout = [json.loads(line) for line in (tmp_path / "out" / "heldout.jsonl").read_text("utf-8").splitlines()]
    assert {p["id"] for p in heldout} == {"p0", "p5", "p10", "p15", "p7"}
    for pair in heldout:
        assert pair["en"] not in text and pair["ja"] not in text
    assert result.metrics["pairs_train"] == 15 and result.metrics["documents"] == 5
    assert "Sentence 3 ends here." in text and "文3番です。" in text


def test_the_embedded_pairs_keep_their_test_split_out(tmp_path):
    result = run(config(tmp_path, input=[str(DATA / "parallel" / "en_ja.jsonl")]))
    test = [p for p in read_pairs(DATA / "parallel" / "en_ja.jsonl") if p.split == "test"]
    assert len(test) >= 40 and result.metrics["pairs_heldout"] == len(test)
    text = training_text(tmp_path / "out")
    assert not any(p.ja in text or p.en in text for p in test)


def test_prompt_is_the_template_before_the_target():
    pair = next(read_pairs(DATA / "parallel" / "en_ja.jsonl"))
    templates = ParallelTextConfig().templates
    for direction in ("en-ja", "ja-en"):
        prompt, target = prompt_and_target(pair, direction)
        assert render(pair, direction, templates) == f"{prompt} {target}"


def test_malformed_lines_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"en": "a", "ja": "あ"}\n{"en": "b"}\n', "utf-8")
    with pytest.raises(InputError, match=r"bad\.jsonl:2: field 'ja' is missing"):
        list(read_pairs(bad))
    tsv = tmp_path / "bad.tsv"
    tsv.write_text("a\tあ\nonly one column\n", "utf-8")
    with pytest.raises(InputError, match=r"bad\.tsv:2: 1 tab-separated columns"):
        list(read_pairs(tsv))
    with pytest.raises(ConfigError, match="needs both"):
        run(config(tmp_path, input=[str(bad)], templates={"en-ja": "{en}", "ja-en": "{ja} {en}"}))


def test_the_stage_skips_a_malformed_line_and_records_it(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS[:4])
    path.write_text(path.read_text("utf-8") + '{"en": "cut off\n' + "\xff\n", "utf-8")
    path.write_bytes(path.read_bytes().replace("\xff".encode(), b"\xff"))
    result = run(config(tmp_path, input=[str(path)]))
    skipped = [json.loads(line) for line in (tmp_path / "out" / "skipped.jsonl").read_text("utf-8").splitlines()]
    assert [(s["line"], s["reason"].split(":")[0]) for s in skipped] == [(5, "malformed JSON"), (6, "not valid UTF-8")]
    assert result.metrics["dropped"] == {"a malformed line": 2} and result.metrics["pairs_train"] == 3


def test_embedded_text_writes_english_and_code_shards(tmp_path):
    result = embedded_text(EmbeddedTextConfig(sets=["en", "code"], output_dir=str(tmp_path / "e")))
    lines = (tmp_path / "e" / "data" / "part-00000.jsonl").read_text("utf-8").splitlines()
    docs = [json.loads(line) for line in lines]
    sets = {d["metadata"]["set"] for d in docs}
    assert sets == {"en", "code"} and any(d["id"] == "code/train/continual.py" for d in docs)
    assert result.metrics["documents"] == len(docs)
