import json
import random
from collections import Counter
from pathlib import Path

import pytest

from jaforge.io.document import Document
from jaforge.corpus.rules import FILTERS, PRESETS, make_rule
from jaforge.corpus.rules.hojichar import (HOJICHAR_DICTS, char_repetition_ratio, read_words,
                                           to_hojichar)

REPO = Path(__file__).resolve().parents[2]
PROSE = ("今日は朝から雨が降っていたので、家で本を読んで過ごしました。"
         "午後になると空が明るくなり、近くの公園まで散歩に出かけました。")


def verdict(name, text, **params):
    return make_rule(name, params)(Document("t", text))


def write_list(tmp_path, *lines, name="words.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_document_length_bounds_and_defaults():
    name = "hojichar_document_length"
    assert verdict(name, "あ" * 4, min_doc_len=5) == name
    assert verdict(name, "あ" * 5, min_doc_len=5) is None
    assert verdict(name, "あ" * 10, max_doc_len=10) is None
    assert verdict(name, "あ" * 11, max_doc_len=10) == name
    assert verdict(name, "") is None  # HojiChar's defaults bound nothing


def test_accept_japanese_lookup_window():
    name = "hojichar_accept_japanese"
    assert verdict(name, "This is an English document.") == name
    assert verdict(name, "a" * 50 + "あ") == name
    assert verdict(name, "a" * 50 + "あ", lookup_size=51) is None
    assert verdict(name, "ほうじ茶") is None
    assert verdict(name, "東京都庁舎展望室") == name  # kanji only: no kana


def test_rare_kuten_average_sentence_length():
    name = "hojichar_discard_rare_kuten"
    assert verdict(name, "おはよ。", max_average_sentence_length=4) is None
    assert verdict(name, "おはよう。", max_average_sentence_length=4) == name
    assert verdict(name, PROSE) is None
    assert verdict(name, "句点のない長い文" * 20) == name


def test_too_short_lines_share():
    name = "hojichar_discard_too_short_lines"
    long_line = "これは十文字を超える長さの行です"
    assert verdict(name, f"{long_line}\n短い行") is None  # 1 of 2 is not above 0.5
    assert verdict(name, f"{long_line}\n短い行\nあ") == name  # 2 of 3
    assert verdict(name, f"{long_line}\n" + "あ" * 10 + "\n" + "い" * 11) is None  # 10 is short
    assert verdict(name, "") == name  # one empty line, like HojiChar's split


def test_single_character_repetition_run():
    name = "hojichar_single_character_repetition"
    assert verdict(name, PROSE + "ー" * 199 + PROSE) is None
    assert verdict(name, PROSE + "ー" * 200 + PROSE) == name
    assert verdict(name, "ああいい" * 100, threshold=3) is None  # many repeats, no long run
    assert verdict(name, "ああいい" * 100, threshold=2) == name
    assert verdict(name, "") is None


def test_ending_ellipsis_share():
    name = "hojichar_discard_too_many_ending_ellipsis"
    lines = ["記事のタイトルが途中で切れています…"] * 7 + ["普通に終わる行です。"] * 3
    assert verdict(name, "\n".join(lines) + "\n") is None  # 7 of 10 is not above 0.7
    lines[7] = "続きはこちら..."
    assert verdict(name, "\n".join(lines) + "\n") == name
    assert verdict(name, "途中で….\n" * 5) is None  # the ellipsis must end the line


def reference_repetition_ratio(text, n):
    """BigScience's character repetition ratio written out plainly."""
    freqs = sorted(Counter(text[i : i + n] for i in range(len(text) - n + 1)).values(),
                   reverse=True)
    if not freqs:
        return 0.0
    top = min(int(len(freqs) ** 0.5), len(freqs) - freqs.count(1))
    return sum(freqs[:top]) / sum(freqs)


@pytest.mark.parametrize("alphabet_size", [1, 3, 40, 20000])
def test_char_repetition_ratio_matches_reference(alphabet_size):
    rng = random.Random(alphabet_size)
    chars = [chr(0x4E00 + i) for i in range(alphabet_size)]  # 20000 forces the string count
    for length in (0, 3, 5, 6, 50, 400):
        text = "".join(rng.choice(chars) for _ in range(length))
        for n in (1, 3, 5):
            assert char_repetition_ratio(text, n) == reference_repetition_ratio(text, n)


def test_char_repetition_ratio_threshold_is_inclusive():
    name = "hojichar_char_repetition_ratio"
    text = "ほうじ茶ラテ、" * 20 + PROSE
    ratio = reference_repetition_ratio(text, 5)
    assert verdict(name, text, threshold=ratio) == name
    assert verdict(name, text, threshold=ratio + 1e-9) is None
    assert verdict(name, PROSE) is None
    with pytest.raises(ValueError, match="ngram_size"):
        make_rule(name, {"ngram_size": 0})


def test_bbs_comments_counts_pattern_matches():
    name = "hojichar_discard_bbs_comments"
    assert verdict(name, "楽天市場 質問 投稿 コメント レビュー " * 3) == name  # 15
    assert verdict(name, "楽天市場 質問 投稿 コメント レビュー " * 3, max_allowed_num=15) is None
    # A date is one match: its hyphens are not counted again.
    assert verdict(name, "投稿日 2019-08-18 " * 7) is None  # 14
    assert verdict(name, "投稿日 2019-08-18 " * 8) == name  # 16
    assert verdict(name, "第12話(土)、" * 7 + "-") == name  # 15
    assert verdict(name, PROSE * 3) is None


def test_ads_counts_non_overlapping_matches_in_list_order(tmp_path):
    name = "hojichar_discard_ads"
    overlapping = write_list(tmp_path, "送料無料", "無料プレゼント", name="a.txt")
    # 送料無料プレゼント: 送料無料 consumes 無料, so each copy is one match, not two.
    assert verdict(name, "送料無料プレゼント。" * 14, dict_path=overlapping) is None
    assert verdict(name, "送料無料プレゼント。" * 15, dict_path=overlapping) == name
    short_first = write_list(tmp_path, "セール", "セールセール", name="b.txt")
    long_first = write_list(tmp_path, "セールセール", "セール", name="c.txt")
    assert verdict(name, "セールセール!" * 8, dict_path=short_first) == name  # 16
    assert verdict(name, "セールセール!" * 8, dict_path=long_first) is None  # 8
    assert verdict(name, PROSE, dict_path=short_first) is None


@pytest.mark.parametrize("name", ["hojichar_ng_words_ja", "hojichar_discard_adult_content_ja",
                                  "hojichar_discard_discrimination_content_ja",
                                  "hojichar_discard_violence_content_ja"])
def test_ng_words_substring_match(tmp_path, name):
    path = write_list(tmp_path, "ズバボン", "激ヤバ儲け", "死")
    assert verdict(name, PROSE, dict_path=path) is None
    assert verdict(name, PROSE + "激ヤバ儲けの話。", dict_path=path) == name
    assert verdict(name, PROSE + "ズバボンズ", dict_path=path) == name
    assert verdict(name, PROSE + "死", dict_path=path) == name  # one-character word


def test_ng_words_ignore_confused_guards_katakana_words(tmp_path):
    name = "hojichar_ng_words_ja"
    path = write_list(tmp_path, "ズバボン", "激ヤバ儲け")
    assert verdict(name, "ズバボンズです", dict_path=path, ignore_confused=True) is None
    assert verdict(name, "あのズバボンです", dict_path=path, ignore_confused=True) == name
    assert verdict(name, "激ヤバ儲けだ", dict_path=path, ignore_confused=True) == name


def test_ng_words_read_like_hojichar(tmp_path):
    name = "hojichar_ng_words_ja"
    path = tmp_path / "w.txt"
    path.write_text("  ズバボン \r\n\n# 激ヤバ\n", encoding="utf-8")
    assert read_words(path) == ["ズバボン", "# 激ヤバ"]  # no comments: every line is a word
    assert verdict(name, "#激ヤバ", dict_path=str(path)) is None
    assert verdict(name, "ズバボン", dict_path=str(path)) == name
    blank = write_list(tmp_path, "ズバボン", "   ", name="blank.txt")
    assert verdict(name, PROSE, dict_path=blank) == name  # a blank word matches every text


def test_normalizer_rewrites_to_nfkc():
    doc = Document("t", "ＡＢＣ１２３ｶﾀｶﾅ")
    assert make_rule("hojichar_document_normalizer")(doc) is None
    assert doc.text == "ABC123カタカナ"


def test_preset_rules_are_registered_and_build():
    spec = PRESETS.get("hojichar_std")()
    assert all(name in FILTERS for name, _ in spec)
    assert set(HOJICHAR_DICTS) <= {name for name, _ in spec}
    rules = [make_rule(name, params) for name, params in spec]  # sample word lists
    assert rules[0].min_doc_len == 200 and rules[0].max_doc_len == 50_000
    assert all(rule(Document("t", PROSE * 10)) is None for rule in rules[:4])


# --- parity with HojiChar -----------------------------------------------------------------------

def embedded_texts():
    files = sorted((REPO / "data" / "ja" / "clean").glob("*.jsonl"))
    files += sorted((REPO / "data" / "ja" / "noisy").glob("noisy.jsonl"))
    texts = [json.loads(line)["text"] for f in files
             for line in f.read_text("utf-8").splitlines() if line.strip()]
    if not texts:
        pytest.skip("no embedded corpus files under data/ja yet")
    return texts


def hojichar_verdicts(rules, texts):
    hojichar = pytest.importorskip("hojichar",
                                   reason="hojichar (the 'bench' extra) is not installed")
    compose = hojichar.Compose(to_hojichar(rules))
    return [not compose.apply(hojichar.Document(t)).is_rejected for t in texts]


@pytest.mark.parametrize("word_lists", ["hojichar", "samples"])
def test_hojichar_std_keeps_what_hojichar_keeps(word_lists):
    texts = embedded_texts()
    pytest.importorskip("hojichar", reason="hojichar (the 'bench' extra) is not installed")
    from jaforge.corpus.rules.hojichar import hojichar_dict_params

    params = hojichar_dict_params() if word_lists == "hojichar" else {}
    rules = [make_rule(name, {**p, **params.get(name, {})})
             for name, p in PRESETS.get("hojichar_std")()]
    expected = hojichar_verdicts(rules, texts)
    kept = [all(rule(Document(str(i), t)) is None for rule in rules) for i, t in enumerate(texts)]
    assert kept == expected
    assert 0 < sum(kept) < len(texts)  # the check is not vacuous


def fuzz_texts(count, seed=0):
    rng = random.Random(seed)
    pieces = ["あ", "ア", "ー", "。", "、", "\n", "...", "…", "-", "2019年8月18日", "(土)", "12話",
              "コメント", "送料無料", "ズバボン", "ボン", "a", "1", " ", "漢字", PROSE[:20]]
    return ["".join(rng.choice(pieces) * rng.choice([1, 1, 1, 2, 30])
                    for _ in range(rng.randrange(0, 120))) for _ in range(count)]


def test_each_rule_matches_hojichar_on_random_texts(tmp_path):
    document_filters = pytest.importorskip("hojichar.filters.document_filters",
                                           reason="hojichar (the 'bench' extra) is not installed")
    from hojichar import Document as HojiCharDocument

    words = write_list(tmp_path, "ズバボン", "送料無料", "ボンボン", "コメ")
    specs = [("hojichar_document_length", {"min_doc_len": 20, "max_doc_len": 300}),
             ("hojichar_accept_japanese", {"lookup_size": 10}),
             ("hojichar_discard_rare_kuten", {"max_average_sentence_length": 20}),
             ("hojichar_discard_too_short_lines", {"threshold": 0.3}),
             ("hojichar_single_character_repetition", {"threshold": 40}),
             ("hojichar_discard_too_many_ending_ellipsis", {"threshold": 0.2}),
             ("hojichar_char_repetition_ratio", {"threshold": 0.2, "ngram_size": 3}),
             ("hojichar_discard_bbs_comments", {"max_allowed_num": 4}),
             ("hojichar_discard_ads", {"dict_path": words, "max_allowed_num": 3}),
             ("hojichar_ng_words_ja", {"dict_path": words}),
             ("hojichar_ng_words_ja", {"dict_path": words, "ignore_confused": True})]
    texts = fuzz_texts(400)
    for name, params in specs:
        rule = make_rule(name, params)
        (peer,) = to_hojichar([rule])
        assert isinstance(peer, getattr(document_filters, rule.hojichar_filter))
        ours = [rule(Document("t", t)) is not None for t in texts]
        theirs = [peer.apply(HojiCharDocument(t)).is_rejected for t in texts]
        assert ours == theirs, name
        assert 0 < sum(ours) < len(texts) or name == "hojichar_document_length", name
