"""PII masking: each kind, validation against technical text, precision and recall on the labelled
set (data/ja/noisy/pii.jsonl + pii_negatives.jsonl), metadata, and no PII anywhere in a run's
output directory."""

import gzip
import json
import logging

import pytest

from jaforge.config import load_config
from jaforge.corpus import CorpusConfig, run
from jaforge.io.document import Document
from jaforge.corpus.pii import (PIIMasker, card_issuer_fits, find_pii, luhn_valid, mask_pii,
                                my_number_check_digit)
from jaforge.errors import ConfigError

from conftest import DATA, write_jsonl


def my_number(first11: str) -> str:
    return first11 + str(my_number_check_digit(first11))


def records(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / "ja" / "noisy" / name).open(encoding="utf-8")]


def test_check_digit_algorithms():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    number = my_number("12345678901")
    wrong = number[:11] + str((int(number[11]) + 1) % 10)
    assert mask_pii(number)[0] == "<MY_NUMBER>"
    assert mask_pii(wrong)[0] == wrong  # an ordinary 12-digit figure survives


@pytest.mark.parametrize("value,kind", [
    ("taro.yamada@example.co.jp", "email"),
    ("03-5555-0123", "phone_jp"), ("090-5555-1234", "phone_jp"), ("08055559876", "phone_jp"),
    ("(03)5555-0123", "phone_jp"), ("03(5555)0123", "phone_jp"), ("0120-555-012", "phone_jp"),
    ("+81-3-5555-0123", "phone_jp"),
    ("4111 1111 1111 1111", "credit_card"), ("5500-0000-0000-0004", "credit_card"),
    ("3782 822463 10005", "credit_card"), ("3530111333300000", "credit_card"),
    ("198.18.0.10", "ipv4"), ("133.5.20.1", "ipv4"),
    ("2001:2:0:1::1", "ipv6"), ("2400:4050:0:0:0:0:0:1", "ipv6"),
])
def test_each_kind_is_masked_with_its_placeholder(value, kind):
    masked, counts = mask_pii(f"連絡先は{value}です。")
    assert value not in masked and counts == {kind: 1}


@pytest.mark.parametrize("text", [
    "2024-01-15に開催", "時刻は12:30:45です", "価格は1,234,567円", "郵便番号100-0001",
    "バージョン1.2.3", "第3.5節",
    "APT::Get::Assume-Yes \"true\"; と :: だけの行",            # apt.conf: not IPv6
    "std::chrono::seconds と a::b と dead::beef",               # C++ scopes
    "00000000: 0000 0000 0000 0000 0000 0000 0000 0000",        # xxd
    "0000 0000 0000 0000 は空の領域",                           # one digit repeated
    "1234 5678 9012 3456 は例の番号",                           # no issuer starts with 1
    "dig の例: 192.0.2.1 と 2001:db8::1 と 198.51.100.7",       # documentation ranges
    "LAN は 192.168.0.1、ループバックは 127.0.0.1 と ::1",       # private ranges
    "netmask 255.255.255.0、バージョン 10.0.19045.3803",        # netmask, version
    "#define MAGIC 0x0312345678", "image@2x.png を置く",
    "8.6.3.1. シンボルファイル と リビジョン 2.8.1.1",                # section, revision numbers
    "正規表現 [0123456789] は任意の数字", "label ::ffff:0:0/96 4",     # a class; IPv4-mapped
    "echo 192.0.2.2:192.0.2.7::255.255.255.0",                         # nfsroot, not IPv6
])
def test_technical_text_survives(text):
    assert mask_pii(text) == (text, {})


def test_kept_ranges_are_configurable():
    text = "dig の例: 192.0.2.1 と LAN の 192.168.0.1"
    masker = PIIMasker(["ipv4"], keep_ip_ranges=["private"])
    assert masker.mask(text) == "dig の例: <IPV4> と LAN の 192.168.0.1"
    masker = PIIMasker(["ipv4"], keep_ip_ranges=["192.168.0.0/24"])
    assert masker.mask(text) == "dig の例: <IPV4> と LAN の 192.168.0.1"
    with pytest.raises(ConfigError, match="keep_ip_ranges"):
        PIIMasker(["ipv4"], keep_ip_ranges=["intranet"])


def test_card_issuers_and_lengths():
    assert card_issuer_fits("4111111111111111") and card_issuer_fits("378282246310005")
    assert not card_issuer_fits("378282246310005" + "0")  # Amex numbers have 15 digits
    assert not card_issuer_fits("0000000000000000") and not card_issuer_fits("9111111111111111")


def test_my_number_with_separators_and_type_selection():
    number = my_number("98765432109")
    spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
    masked, counts = mask_pii(f"番号は{spaced}、メールはa@example.jp")
    assert masked == "番号は<MY_NUMBER>、メールは<EMAIL>" and counts == {"my_number": 1, "email": 1}
    masked, counts = mask_pii("メールはa@example.jp", types=["phone_jp"])
    assert counts == {} and "a@example.jp" in masked


def test_precision_and_recall_on_the_labelled_set():
    """Every annotated value is masked (recall 100 %), and at least 95 % of masks are annotated
    values, over the PII texts and 60+ technical negatives (configs, hex dumps, code, versions,
    dates, example and private addresses)."""
    positives, negatives = records("pii.jsonl"), records("pii_negatives.jsonl")
    assert len(negatives) >= 60
    assert {"config", "hex_dump", "code", "version", "date", "ip_example"} <= {r["kind"] for r in negatives}
    annotated = found = true = 0
    for record in positives + negatives:
        text = record["text"]
        values = [item["value"] for item in record.get("pii", [])]
        spans = [text[s.start:s.end] for s in find_pii(text)]
        annotated += len(set(values))
        found += len(spans)
        true += sum(1 for v in spans if v in values)
        assert set(values) <= set(spans), record["id"]
    assert annotated > 100
    precision = true / found
    assert precision >= 0.95, precision


def test_masker_step_masks_text_and_every_metadata_string():
    masker = PIIMasker(["email", "ipv4", "phone_jp"])
    doc = Document("d", "a@example.com と b@example.org から 198.18.0.5 へ",
                   {"author": {"mail": "c@example.jp", "tel": ["090-5555-1234", 3]}, "n": 1.5})
    assert masker(doc) is None
    assert doc.text == "<EMAIL> と <EMAIL> から <IPV4> へ"
    assert doc.meta == {"author": {"mail": "<EMAIL>", "tel": ["<PHONE>", 3]}, "n": 1.5}
    assert masker.counts == {"email": 3, "ipv4": 1, "phone_jp": 1}
    with pytest.raises(ConfigError, match="unknown type"):
        PIIMasker(["passport"])


def _all_output_text(out) -> str:
    """Every file under a run directory, decompressed (Parquet as its rows), as one string."""
    pq = pytest.importorskip("pyarrow.parquet")
    chunks = []
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        if path.name.endswith(".gz"):
            chunks.append(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
        elif path.suffix == ".parquet":
            chunks.append(json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False))
        else:
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


@pytest.mark.parametrize("fmt", ["jsonl.gz", "parquet"])
def test_no_annotated_pii_anywhere_in_the_output_directory(tmp_path, caplog, fmt):
    """Kept shards, rejects, skips, stats and the log: none holds an annotated PII value, though
    the PII file's metadata (`pii`) lists every value and some documents are rejected."""
    pii = records("pii.jsonl")
    inp = tmp_path / "in"
    write_jsonl(inp / "pii.jsonl", pii)
    write_jsonl(inp / "short.jsonl", [{"id": "s", "text": r["text"][:200]} for r in pii[:5]])
    cfg = load_config(CorpusConfig, None, [
        ("input.paths", f"[{inp}]"), ("output_dir", str(tmp_path / "out")),
        ("output.write_rejects", "true"), ("output.format", fmt), ("executor.progress", "false")])
    with caplog.at_level(logging.DEBUG):
        result = run(cfg)
    assert result.metrics["docs_out"] > 30 and sum(result.metrics["drops"].values()) >= 5
    everything = _all_output_text(tmp_path / "out") + caplog.text
    values = {item["value"] for r in pii for item in r["pii"]}
    leaked = sorted(v for v in values if v in everything)
    assert not leaked
    assert "<PHONE>" in everything and "<EMAIL>" in everything


def test_the_stage_keeps_the_same_ranges_as_the_masker_by_default():
    from jaforge.corpus.config import PIIConfig
    from jaforge.corpus.pii import DEFAULT_KEEP

    assert tuple(PIIConfig().keep_ip_ranges) == DEFAULT_KEEP
