import json
from fractions import Fraction
from pathlib import Path

import pytest

from jaforge.config import ConfigError
from jaforge.corpus import textstats as ts
from jaforge.io.document import Document
from jaforge.corpus.rules import FILTERS, PRESETS, make_rule
from jaforge.corpus.rules.wordlists import WordListError, load_word_list

REPO = Path(__file__).resolve().parents[2]
HIRA = "きょうはとてもいいてんきだったのでこうえんまでさんぽにでかけました"
KANJI = "東京都新宿区西新宿二丁目八番一号都庁舎展望室"
KATA = "コーヒーショップメニューカプチーノエスプレッソ"
KATA_PLAIN = KATA.replace("ー", "")  # ー is no katakana to the released annotator

PROSE = (
    "キッチンの換気扇は、気づかないうちに油汚れがたまりやすい場所です。"
    "年末にまとめて掃除しようとすると、固まった汚れを落とすのに何時間もかかります。\n"
    "作業の前に、必ず換気扇のスイッチを切り、電源プラグも抜いておきましょう。"
    "ゴム手袋と古新聞、大きめのゴミ袋、それに重曹を用意しておくと作業がはかどります。\n"
    "まず、フィルターとカバーを外します。外したネジは小皿にまとめておくと安心です。"
    "次に、シンクにゴミ袋を広げて四十度くらいのお湯を張り、重曹を大さじ三杯ほど溶かします。\n"
    "部品を沈めて三十分ほど置くと、こびりついた油がふやけて浮き上がってきます。"
    "古い歯ブラシで溝をこすり、最後にぬるま湯でよくすすいでから乾かしてください。\n"
    "ファンの羽根は傷つきやすいので、力を入れすぎないことが長持ちのコツです。"
    "月に一度、表面をさっと拭くだけでも、年末の大掃除はずっと楽になります。\n"
    "汚れがひどい場合は、無理をせず専門の業者に相談するのもひとつの方法です。"
    "費用はかかりますが、分解洗浄まで任せられるので、仕上がりには大きな差が出ます。"
)


def take(pool: str, n: int) -> str:
    return (pool * (n // len(pool) + 1))[:n]


def distinct_kanji(n: int, start: int = 0) -> str:
    """n different kanji: filler that adds no repeated n-gram."""
    return "".join(chr(0x4E00 + start + i) for i in range(n))


def sentence(n: int, pool: str = HIRA) -> str:
    """A sentence of exactly n characters, 。 included."""
    return take(pool, n - 1) + "。"


def verdict(name: str, text: str, **params):
    return make_rule(name, params)(Document("t", text))


def test_min_length_boundary():
    assert verdict("min_length", take(PROSE, 400)) is None
    assert verdict("min_length", take(PROSE, 399)) == "min_length"


def test_hiragana_ratio_boundary():
    assert verdict("hiragana_ratio", take(HIRA, 20) + take(KANJI, 80)) is None
    assert verdict("hiragana_ratio", take(HIRA, 19) + take(KANJI, 81)) == "hiragana_ratio"
    # Latin letters, digits and symbols are not Japanese letters: they change nothing.
    assert verdict("hiragana_ratio", take(HIRA, 20) + take(KANJI, 80) + "Tokyo 2024!" * 9) is None
    assert verdict("hiragana_ratio", "English only, no Japanese.") == "hiragana_ratio"


def test_katakana_ratio_boundary():
    assert verdict("katakana_ratio", take(KATA_PLAIN, 50) + take(HIRA, 50)) is None
    assert verdict("katakana_ratio", take(KATA_PLAIN, 51) + take(HIRA, 49)) == "katakana_ratio"
    # ー counts as katakana only with letters: kana_kanji
    text = "ー" * 10 + take(KATA_PLAIN, 45) + take(HIRA, 45)
    assert verdict("katakana_ratio", text) is None  # 45 / 90
    assert verdict("katakana_ratio", text, letters="kana_kanji") == "katakana_ratio"  # 55 / 100


def test_japanese_letters_are_the_annotators_by_default():
    """Hiragana, katakana without ー, BMP kanji and 。．！？、，; the share is of all characters."""
    c = ts.swallow_counts("あア一ー。、！？，．!?a 1𠀋々")
    assert (c.hiragana, c.katakana, c.kanji, c.kuten, c.toten, c.chars) == (1, 1, 2, 4, 2, 17)
    assert c.japanese == 10
    k = ts.char_counts("あア一ー。、𠀋々")
    assert (k.hiragana, k.katakana, k.kanji) == (1, 2, 3)


def test_japanese_ratio_boundary():
    # Released semantics: Japanese letters (punctuation included) / every character.
    assert verdict("japanese_ratio", take(HIRA, 49) + "。" + " " * 50) is None
    assert verdict("japanese_ratio", take(HIRA, 49) + " " * 51) == "japanese_ratio"
    latin = "The quick brown fox jumps over the lazy dog " * 3
    lat = dict(letters="kana_kanji", of="letters")
    assert verdict("japanese_ratio", take(HIRA, 50) + take(latin.replace(" ", ""), 50), **lat) is None
    assert verdict("japanese_ratio", take(HIRA, 49) + take(latin.replace(" ", ""), 51), **lat) \
        == "japanese_ratio"
    # of: letters — spaces, digits and symbols are not letters.
    assert verdict("japanese_ratio", take(HIRA, 50) + take(latin, 62) + "12345!?" * 20, **lat) is None
    assert verdict("japanese_ratio", "1234 5678 !!!", **lat) == "japanese_ratio"


def test_japanese_ratio_may_accept_many_letters_at_a_lower_share():
    code = "x = f(y) + g(z); " * 60  # 1,020 characters without Japanese
    manual = take(HIRA, 1000) + code  # share 1000 / 2020 < 0.5
    assert verdict("japanese_ratio", manual) == "japanese_ratio"
    assert verdict("japanese_ratio", manual, min_letters=1000, min_ratio_with_letters=0.2) is None
    assert verdict("japanese_ratio", take(HIRA, 999) + code, min_letters=1000,
                   min_ratio_with_letters=0.2) == "japanese_ratio"


def test_japanese_letters_rule_boundary():
    assert verdict("japanese_letters", take(HIRA, 399) + "。" + "abc" * 100) is None
    assert verdict("japanese_letters", take(HIRA, 399) + "abc" * 100) == "japanese_letters"
    assert verdict("japanese_letters", take(HIRA, 399) + "。", letters="kana_kanji") == "japanese_letters"


@pytest.mark.parametrize("lengths, expected", [
    ((15, 25), None), ((15, 24), "mean_sentence_length"),
    ((80, 100), None), ((80, 101), "mean_sentence_length"),
])
def test_mean_sentence_length_boundaries(lengths, expected):
    text = "".join(sentence(n) for n in lengths)
    assert verdict("mean_sentence_length", text) == expected


def test_mean_sentence_length_counts_line_breaks_as_sentence_ends():
    # Three 31-character lines without 。 are three sentences, not one of 93 characters.
    text = "\n".join(take(HIRA, 31) for _ in range(3))
    assert verdict("mean_sentence_length", text) is None
    assert verdict("mean_sentence_length", text.replace("\n", "")) == "mean_sentence_length"


def test_max_sentence_length_boundary():
    assert verdict("max_sentence_length", sentence(200) + sentence(30)) is None
    assert verdict("max_sentence_length", sentence(201) + sentence(30)) == "max_sentence_length"


@pytest.mark.parametrize("mark", ["…", "・・・"])
def test_ellipsis_ending_boundary(mark):
    def text(trailing):
        teasers = [take(HIRA, 12) + mark] * trailing
        return "\n".join(teasers + [sentence(13)] * (10 - trailing))

    assert verdict("ellipsis_ending", text(2)) is None
    assert verdict("ellipsis_ending", text(3)) == "ellipsis_ending"


def numbered_lines(count: int, width: int = 10, end: str = "") -> list[str]:
    return [f"{i}" + take(HIRA, width - 1 - len(end)) + end for i in range(count)]


def test_duplicate_lines_boundary():
    def text(repeats, sep="\n"):
        lines = ["ホームに戻る"] * (repeats + 1) + numbered_lines(9 - repeats)
        return sep.join(lines)

    assert verdict("duplicate_lines", text(3)) is None
    assert verdict("duplicate_lines", text(4)) == "duplicate_lines"
    # The annotator's paragraphs are every line: blank lines repeat too (9 of 19 here) …
    assert verdict("duplicate_lines", text(0, "\n\n")) == "duplicate_lines"
    # … segments: stripped compares only non-blank lines.
    assert verdict("duplicate_lines", text(3, "\n\n"), segments="stripped") is None
    assert verdict("duplicate_lines", text(4, "\n\n"), segments="stripped") == "duplicate_lines"


def test_sentences_are_split_as_the_annotator_splits_them():
    seg = ts.swallow_segments("あいう!!えお。 か\n\n。きく？")
    # One end mark stays with its sentence, a second is skipped; spaces stay; every line is a
    # paragraph (the blank one too), made of its sentences.
    assert seg.sentences == ("あいう!", "えお。", " か", "きく？")
    assert seg.paragraphs == ("あいう!えお。 か", "", "きく？")
    stripped = ts.sentences("あいう!!えお。 か\n\n。きく？")
    assert stripped == ("あいう!!", "えお。", "か", "きく？")


def test_duplicate_sentences_boundary():
    def text(repeats):
        return "".join(["ホームに戻る。"] * (repeats + 1) + numbered_lines(9 - repeats, end="。"))

    assert verdict("duplicate_sentences", text(3)) is None
    assert verdict("duplicate_sentences", text(4)) == "duplicate_sentences"


def test_duplicate_line_chars_boundary():
    # 2 repeats of a 10-character line: 20 / (unique + 30) characters.
    repeated = ["くりかえしぎょうです"] * 3
    keep = numbered_lines(7)                            # 70 unique characters → 20/100
    drop = numbered_lines(6) + [numbered_lines(7)[6][:9]]  # 69 → 20/99
    assert verdict("duplicate_line_chars", "\n".join(repeated + keep)) is None
    assert verdict("duplicate_line_chars", "\n".join(repeated + drop)) == "duplicate_line_chars"
    assert verdict("duplicate_lines", "\n".join(repeated + keep)) is None  # 2/10 lines: not this


def test_duplicate_sentence_chars_boundary():
    repeated = ["くりかえしぎょうで。"] * 3
    keep = numbered_lines(7, end="。")
    drop = numbered_lines(6, end="。") + ["6" + take(HIRA, 7) + "。"]
    assert verdict("duplicate_sentence_chars", "".join(repeated + keep)) is None
    assert verdict("duplicate_sentence_chars", "".join(repeated + drop)) \
        == "duplicate_sentence_chars"


def repeated_unit(unit: str, copies: int, ngrams: int = 100) -> str:
    """`unit` repeated, padded with distinct kanji to exactly `ngrams` len(unit)-grams."""
    n = len(unit)
    return unit * copies + distinct_kanji(ngrams + n - 1 - n * copies)


@pytest.mark.parametrize("unit, limit", [("ねこ", 0.20), ("ねこだ", 0.18), ("ねこです", 0.16)])
def test_top_ngram_share_boundaries(unit, limit):
    n, at_limit = len(unit), round(limit * 100)
    params = {"max_share": {n: limit}}
    assert ts.NgramProfile(repeated_unit(unit, at_limit)).top_share(n) == limit
    assert verdict("top_ngram_share", repeated_unit(unit, at_limit), **params) is None
    assert verdict("top_ngram_share", repeated_unit(unit, at_limit + 1), **params) \
        == "top_ngram_share"


def test_top_ngram_share_defaults_check_each_size():
    # 17 of 100 4-grams: only the 4-gram limit (0.16) is crossed.
    assert verdict("top_ngram_share", repeated_unit("ねこです", 16)) is None
    assert verdict("top_ngram_share", repeated_unit("ねこです", 17)) == "top_ngram_share"


def test_ngram_share_keys_from_the_command_line_become_ints():
    rule = make_rule("top_ngram_share", {"max_share": {"2": 0.5}})
    assert rule.max_share == {2: 0.5}
    with pytest.raises(ValueError, match="1…64"):
        make_rule("duplicate_ngram_share", {"max_share": {0: 0.5}})


def repeated_phrase(n: int, limit: float, shorter_by: int = 0) -> str:
    """Two copies of a phrase whose n-grams make exactly `limit` of all n-grams (or a bit
    more when the filler is `shorter_by` characters shorter)."""
    frac = Fraction(limit).limit_denominator(1000)
    per_copy, total = frac.numerator, 2 * frac.denominator
    phrase = "あいうえおかきくけこさしすせそたちつてとなにぬねの"[:n + per_copy - 1]
    length = total + n - 1 - shorter_by
    filler = distinct_kanji(length - 2 * len(phrase))
    return phrase + filler[:1] + phrase + filler[1:]


@pytest.mark.parametrize("n, limit", [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11),
                                      (10, 0.10)])
def test_duplicate_ngram_share_boundaries(n, limit):
    params = {"max_share": {n: limit}, "count": "occurrences"}
    assert ts.NgramProfile(repeated_phrase(n, limit)).duplicate_share(n) == limit
    assert verdict("duplicate_ngram_share", repeated_phrase(n, limit), **params) is None
    assert verdict("duplicate_ngram_share", repeated_phrase(n, limit, shorter_by=1), **params) \
        == "duplicate_ngram_share"


def test_duplicate_ngram_share_distinct_counting():
    """The default counts distinct n-grams, as the released annotator does."""
    text = repeated_phrase(5, 0.15, shorter_by=1)  # 6 of 39 occurrences; 3 of 36 distinct
    assert verdict("duplicate_ngram_share", text, max_share={5: 0.15}, count="occurrences") is not None
    assert verdict("duplicate_ngram_share", text, max_share={5: 0.15}) is None
    assert verdict("duplicate_ngram_share", text, max_share={5: 0.08}) == "duplicate_ngram_share"
    assert ts.NgramProfile(text).duplicate_distinct_share(5) == 3 / 36


def write_list(tmp_path, *words):
    path = tmp_path / "ng.txt"
    path.write_text("# test list\n" + "\n".join(words) + "\n", encoding="utf-8")
    return str(path)


def test_ng_words_boundary(tmp_path):
    path = write_list(tmp_path, "ばかやろう")
    # 5 NG characters: 5/100 Japanese letters drops (≥ 0.05), 5/101 keeps.
    assert verdict("ng_words", "ばかやろう" + take(KANJI, 95) + "!!", path=path) == "ng_words"
    assert verdict("ng_words", "ばかやろう" + take(KANJI, 96) + "!!", path=path) is None


def test_ng_words_katakana_boundary(tmp_path):
    path = write_list(tmp_path, "ポート")
    manual = "データをインポートしてから、サポート窓口のレポートを読みます。" * 4
    assert verdict("ng_words", manual, path=path) == "ng_words"  # the annotator matches anywhere
    assert verdict("ng_words", manual, path=path, katakana_boundary=True) is None


def test_ng_words_without_japanese_letters_keep_the_document(tmp_path):
    path = write_list(tmp_path, "spam")
    assert verdict("ng_words", "spam spam spam", path=path) is None


def test_ng_words_missing_list_names_the_path(tmp_path):
    with pytest.raises(WordListError, match="nope.txt"):
        make_rule("ng_words", {"path": str(tmp_path / "nope.txt")})


def test_ng_words_default_list_resolves():
    shipped = REPO / "data" / "ja" / "noisy" / "ng_words.txt"
    if not shipped.is_file():
        pytest.skip("the sample list data/ja/noisy/ng_words.txt is not in this checkout")
    rule = make_rule("ng_words")
    assert rule._matcher.words == load_word_list(shipped)


FOOTER = ["会社概要 | 利用規約 | プライバシーポリシー", "東京都千代田区1-2-3",
          "Copyright © 2024 Example Inc. All rights reserved."]


def trim(text: str, **params) -> str:
    doc = Document("t", text)
    assert make_rule("footer_trim", params)(doc) is None  # a transform never drops
    return doc.text


def test_footer_trim_cuts_from_the_first_footer_line():
    body = PROSE.split("\n")
    assert trim("\n".join(body + FOOTER)) == "\n".join(body)


def test_footer_trim_leaves_pages_without_footer_alone():
    assert trim(PROSE) == PROSE
    # A footer line further up than max_lines is page content.
    text = "\n".join(FOOTER[:1] + [sentence(30)] * 10)
    assert trim(text) == text
    assert trim(text, max_lines=11) == ""


def test_footer_trim_keyword_share_boundary():
    body = PROSE + "\n"
    at_limit = "お問い合わせ" + take(HIRA, 14)   # 6 of 20 characters: not more than 0.3
    above = "お問い合わせ" + take(HIRA, 13)      # 6 of 19
    assert trim(body + at_limit) == body + at_limit
    assert trim(body + above) == PROSE


def test_swallow_v1_preset_is_the_paper_in_order():
    steps = PRESETS.get("swallow_v1")()
    names = [name for name, _ in steps]
    assert all(name in FILTERS for name in names)
    assert names[0] == "min_length" and names[-1] == "footer_trim"
    params = dict(steps)
    assert params["min_length"] == {"min_chars": 400}
    assert params["mean_sentence_length"] == {"min_chars": 20, "max_chars": 90}
    assert params["top_ngram_share"]["max_share"] == {2: 0.20, 3: 0.18, 4: 0.16}
    assert params["duplicate_ngram_share"]["max_share"] == {
        5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    # The rule defaults are the same thresholds.
    for name, p in steps:
        if name != "ng_words":
            assert make_rule(name) == make_rule(name, p)


def swallow_rules(tmp_path):
    rules = []
    for name, params in PRESETS.get("swallow_v1")():
        if name == "ng_words":
            params = dict(params, path=write_list(tmp_path, "ばかやろう"))
        rules.append(make_rule(name, params))
    return rules


def apply(rules, text):
    doc = Document("t", text)
    for rule in rules:
        reason = rule(doc)
        if reason:
            return reason, doc.text
    return None, doc.text


def test_swallow_v1_keeps_prose_and_drops_noise(tmp_path):
    rules = swallow_rules(tmp_path)
    assert apply(rules, PROSE) == (None, PROSE)
    assert apply(rules, PROSE + "\n" + "\n".join(FOOTER)) == (None, PROSE)
    assert apply(rules, take(PROSE, 300))[0] == "min_length"
    katakana = "".join(take(KATA_PLAIN[i:] + KATA_PLAIN[:i], 30) + "。\n" for i in range(20))
    assert apply(rules, katakana)[0] is not None
    assert verdict("hiragana_ratio", katakana) == "hiragana_ratio"
    spam = "\n".join(["激安セール開催中です今すぐクリックしてください！"] * 8 + [PROSE])
    assert apply(rules, spam)[0] == "duplicate_lines"


def test_swallow_v1_keeps_the_clean_sample_corpus(tmp_path):
    path = REPO / "data" / "ja" / "clean" / "howto.jsonl"
    if not path.is_file():
        pytest.skip("data/ja/clean/howto.jsonl is not in this checkout")
    rules = swallow_rules(tmp_path)
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    reasons = [apply(rules, t)[0] for t in texts if len(t) >= 400]
    assert reasons and reasons == [None] * len(reasons)


def test_unknown_rule_preset_and_param_get_did_you_mean():
    with pytest.raises(KeyError, match="did you mean 'min_length'"):
        make_rule("min_lenght")
    with pytest.raises(KeyError, match="did you mean 'swallow_v1'"):
        PRESETS.get("swallow_v2")
    with pytest.raises(ConfigError, match="did you mean 'min_chars'"):
        make_rule("min_length", {"min_char": 10})
    with pytest.raises(ConfigError, match="expected int"):
        make_rule("min_length", {"min_chars": "many"})
