import random
import zlib
from collections import Counter

import pytest

from jaforge.corpus import textstats as ts
from jaforge.io.document import Document


def test_char_counts_by_class():
    text = "ひらがなゝ カタカナー・ｶﾀｶﾅ 漢字々〇𠮷 ABCéＡｂ 123１２\u3000。、！？"
    c = ts.char_counts(text)
    assert c.hiragana == 5                    # ゝ is a hiragana iteration mark
    assert c.katakana == 5 + 4                # ー counts with katakana, ・ does not
    assert c.kanji == 5                       # 々 〇 and the astral 𠮷 are kanji
    assert c.latin == 6                       # ASCII, Latin-1 and full-width letters
    assert c.digit == 5
    assert c.space == 5                       # ASCII spaces and the ideographic space
    assert c.other == 5                       # ・ 。 、 ！ ？
    assert sum(c) == len(text)
    assert c.japanese == 19 and c.letters == 25


def test_char_counts_empty_and_lone_surrogate():
    assert ts.char_counts("") == ts.CharCounts(0, 0, 0, 0, 0, 0, 0)
    assert ts.char_counts("あ\udc80").other == 1  # mis-decoded bytes do not crash the stats


def test_lines_drop_blank_and_strip():
    assert ts.lines("  一行目です \r\n\n\u3000\n二行目\n") == ("一行目です", "二行目")


def test_sentences_keep_end_marks_and_break_at_newlines():
    text = "今日は晴れ。明日は雨！？本当ですか?  はい\n見出し\n円周率は3.14です．"
    assert ts.sentences(text) == (
        "今日は晴れ。", "明日は雨！？", "本当ですか?", "はい", "見出し", "円周率は3.14です．")


def test_sentence_lengths():
    text = "あいう。" + "かきくけこさしすせ。"  # 4 and 10 characters
    assert ts.mean_sentence_length(text) == 7.0
    assert ts.max_sentence_length(text) == 10
    assert ts.mean_sentence_length("") == 0.0 and ts.max_sentence_length("") == 0


def test_ending_fraction():
    sents = ("続きは…", "以下略・", "普通の文。", "まだ続く")
    assert ts.ending_fraction(sents, ("…", "・")) == 0.5
    assert ts.ending_fraction((), ("…",)) == 0.0


def test_duplicates_count_every_repeat_after_the_first():
    items = ("ホーム", "ホーム", "ホーム", "本文です。", "会社概要")
    dup = ts.duplicates(items)
    assert dup.fraction == 2 / 5
    assert dup.char_fraction == 6 / (9 + 5 + 4)
    assert ts.duplicates(()) == (0.0, 0.0)
    assert ts.line_duplicates("ホーム\nホーム\n本文\n\n") == ts.duplicates(("ホーム", "ホーム", "本文"))
    assert ts.sentence_duplicates("はい。はい。いいえ。").fraction == 1 / 3


def _reference_ngram_stats(text, n):
    """Straight from the definition, with a Counter of sliced strings."""
    counts = Counter(text[i:i + n] for i in range(len(text) - n + 1))
    total = sum(counts.values())
    if not total:
        return 0.0, 0.0, 0.0
    repeated = [c for c in counts.values() if c > 1]
    return max(counts.values()) / total, sum(repeated) / total, len(repeated) / len(counts)


@pytest.mark.parametrize("text", [
    "", "あ", "ああ", "ねこねこねこ", "abab\nabab",
    "今日はいい天気ですね。今日はいい天気ですね。明日も晴れるといいですね。" * 3,
    "".join(random.Random(7).choice("あいうアイ漢字\n") for _ in range(500)),
])
def test_ngram_profile_matches_counter_reference(text):
    profile = ts.NgramProfile(text).prepare([2, 3])  # the rest on demand, one size at a time
    for n in range(1, 13):
        got = (profile.top_share(n), profile.duplicate_share(n),
               profile.duplicate_distinct_share(n))
        assert got == pytest.approx(_reference_ngram_stats(text, n)), n


def test_ngram_profile_sizes_in_blocks_agree_with_one_block():
    text = "今日はいい天気ですね。今日はいい天気ですね。" * 5
    in_steps = ts.NgramProfile(text).prepare([2, 3, 4]).prepare(range(5, 11))
    at_once = ts.NgramProfile(text).prepare(range(1, 11))
    for n in range(1, 11):
        assert in_steps.top_share(n) == at_once.top_share(n)
        assert in_steps.duplicate_share(n) == at_once.duplicate_share(n)


def test_ngram_profile_rejects_sizes_outside_1_to_64():
    with pytest.raises(ValueError, match="within 1…64"):
        ts.NgramProfile("あいうえお").top_share(0)
    with pytest.raises(ValueError, match="within 1…64"):
        ts.NgramProfile("あいうえお").prepare([5, 65])


def test_compression_ratio():
    prose = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。" * 2
    raw = prose.encode("utf-8")
    assert ts.compression_ratio(prose) == len(zlib.compress(raw, 9)) / len(raw)
    assert ts.compression_ratio("あ" * 1000) < 0.05
    assert ts.compression_ratio("") == 0.0


def test_features_are_computed_once_per_text_version():
    doc = Document("d", "はい。はい。")
    calls = []

    def counting(text):
        calls.append(text)
        return ts.sentence_duplicates(text)

    assert doc.cached("sentence_duplicates", counting).fraction == 0.5
    assert doc.cached("sentence_duplicates", counting).fraction == 0.5
    doc.text = "はい。いいえ。"
    assert doc.cached("sentence_duplicates", counting).fraction == 0.0
    assert len(calls) == 2


def test_char_class_regex_agrees_with_counts():
    import re
    kana = re.compile(ts.char_class(ts.KATAKANA_RANGES))
    text = "インポート・ポートｶﾀｶﾅ"
    assert len(kana.findall(text)) == ts.char_counts(text).katakana
