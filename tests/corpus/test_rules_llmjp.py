from pathlib import Path

import pytest

from jaforge.config import ConfigError
from jaforge.corpus import textstats as ts
from jaforge.io.document import Document
from jaforge.corpus.rules import FILTERS, PRESETS, make_rule
from jaforge.corpus.rules.llmjp import url_host
from jaforge.corpus.rules.wordlists import WordListError, load_word_list

REPO = Path(__file__).resolve().parents[2]
PROSE = ("今日は朝から雨が降っていたので、家で本を読んで過ごしました。"
         "午後になると空が明るくなり、近くの公園まで散歩に出かけました。"
         "池のまわりには紫陽花が咲いていて、写真を撮っている人が何人もいました。")


def verdict(name, text, meta=None, **params):
    return make_rule(name, params)(Document("t", text, meta))


def write_list(tmp_path, *entries, name="list.txt"):
    path = tmp_path / name
    path.write_text("# test list\n" + "\n".join(entries) + "\n", encoding="utf-8")
    return str(path)


def test_has_kana():
    assert verdict("has_kana", "我们今天去公园散步，天气很好。") == "has_kana"
    assert verdict("has_kana", "東京都庁舎展望室") == "has_kana"
    assert verdict("has_kana", "東京都庁舎の展望室") is None
    assert verdict("has_kana", "東京都庁舎展望室コース") is None


def test_has_kana_lookup_window():
    text = "漢字" * 30 + "です"  # the first kana is character 61
    assert verdict("has_kana", text) is None
    assert verdict("has_kana", text, lookup_chars=60) == "has_kana"
    assert verdict("has_kana", text, lookup_chars=61) is None


def test_discard_ads_boundary(tmp_path):
    path = write_list(tmp_path, "送料無料", "今すぐ購入", "限定")
    ads = "送料無料！今すぐ購入。限定セール。"  # 3 matches
    tail = "商品の詳細は下記をご覧ください。"
    assert verdict("discard_ads", ads * 3 + "送料無料" + tail, path=path) is None  # 10
    assert verdict("discard_ads", ads * 3 + "送料無料限定" + tail, path=path) == "discard_ads"
    assert verdict("discard_ads", ads * 2, path=path, min_matches=6) == "discard_ads"


def test_ng_word_count_total_and_distinct(tmp_path):
    path = write_list(tmp_path, "ばかやろう", "ポート", "死ね")
    three = PROSE + "ばかやろう。" * 3
    four = PROSE + "ばかやろう。" * 4
    assert verdict("ng_word_count", three, path=path) is None
    assert verdict("ng_word_count", four, path=path) == "ng_word_count"
    assert verdict("ng_word_count", four, path=path, count="distinct") is None
    mixed = PROSE + "ばかやろう。死ね。ポートを開ける。"
    assert verdict("ng_word_count", mixed, path=path, count="distinct", min_matches=3) \
        == "ng_word_count"
    assert verdict("ng_word_count", mixed, path=path, count="distinct", min_matches=4) is None


def test_ng_word_count_katakana_boundary(tmp_path):
    path = write_list(tmp_path, "ポート")
    manual = "設定をインポートし、サポート窓口にレポートを送り、エクスポートします。"
    assert verdict("ng_word_count", manual, path=path) is None
    assert verdict("ng_word_count", manual, path=path, katakana_boundary=False) \
        == "ng_word_count"


def test_rare_kuten_boundary():
    # 400 characters need at least 4 。 at 100 characters per 。
    text = ("あ" * 99 + "。") * 3 + "あ" * 99 + "。"
    assert len(text) == 400 and text.count("。") == 4
    assert verdict("rare_kuten", text) is None
    assert verdict("rare_kuten", text[:-1] + "あ") == "rare_kuten"
    assert verdict("rare_kuten", text + "あ") == "rare_kuten"  # 401 characters need 5
    assert verdict("rare_kuten", text[:-1] + "あ", max_chars_per_kuten=250) is None


def test_compression_ratio_bounds_are_inclusive():
    ratio = ts.compression_ratio(PROSE)
    assert verdict("compression_ratio", PROSE, min_ratio=ratio, max_ratio=ratio) is None
    assert verdict("compression_ratio", PROSE, min_ratio=ratio + 1e-9) == "compression_ratio"
    assert verdict("compression_ratio", PROSE, max_ratio=ratio - 1e-9) == "compression_ratio"


def test_compression_ratio_defaults():
    long_prose = PROSE * 2 + "夕方には雨も上がり、帰り道では虹が見えました。"
    assert 0.30 <= ts.compression_ratio(long_prose) <= 0.70
    assert verdict("compression_ratio", long_prose) is None
    assert verdict("compression_ratio", "ポイント還元！" * 100) == "compression_ratio"  # too low
    noise = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(300))
    assert ts.compression_ratio(noise) > 0.70
    assert verdict("compression_ratio", noise) == "compression_ratio"


def test_url_host():
    assert url_host("https://User@WWW.Example.COM:8080/a?b") == "www.example.com"
    assert url_host("example.jp/path") == "example.jp"
    assert url_host("http://[::1") is None


@pytest.fixture
def blocklist(tmp_path):
    return write_list(tmp_path, "example.com", "*.ads.test", "https://bad.jp/some/page",
                      "", "# comment.com", name="hosts.txt")


@pytest.mark.parametrize("url, expected", [
    ("https://example.com/article", "url_blocklist"),
    ("https://www.news.example.com/a", "url_blocklist"),
    ("HTTP://EXAMPLE.COM:8080/", "url_blocklist"),
    ("https://tracker.ads.test/x", "url_blocklist"),
    ("https://bad.jp/other", "url_blocklist"),
    ("https://notexample.com/", None),
    ("https://example.com.evil.jp/", None),
    ("https://comment.com/", None),
    (None, None),
])
def test_url_blocklist(blocklist, url, expected):
    meta = {"url": url} if url else {}
    assert verdict("url_blocklist", PROSE, meta, path=blocklist) == expected


def test_url_blocklist_needs_a_list(tmp_path, blocklist):
    with pytest.raises(ConfigError, match="missing required key.*path"):
        make_rule("url_blocklist")
    with pytest.raises(WordListError, match="absent.txt"):
        make_rule("url_blocklist", {"path": str(tmp_path / "absent.txt")})
    rule = make_rule("url_blocklist", {"path": blocklist, "meta_key": "source_url"})
    assert rule(Document("t", PROSE, {"source_url": "https://example.com/"})) == "url_blocklist"


def test_llmjp_v1_preset(tmp_path):
    steps = PRESETS.get("llmjp_v1")()
    assert [name for name, _ in steps] == [
        "has_kana", "discard_ads", "ng_word_count", "rare_kuten", "compression_ratio"]
    assert all(name in FILTERS for name, _ in steps)
    params = dict(steps)
    assert params["rare_kuten"] == {"max_chars_per_kuten": 250}
    assert params["compression_ratio"] == {"min_ratio": 0.30, "max_ratio": 0.70}
    lists = {"discard_ads": write_list(tmp_path, "送料無料", name="ads.txt"),
             "ng_word_count": write_list(tmp_path, "ばかやろう", name="ng.txt")}
    rules = [make_rule(name, dict(p, path=lists[name]) if name in lists else p)
             for name, p in steps]
    good = Document("t", PROSE * 2)
    assert [rule(good) for rule in rules] == [None] * len(rules)
    assert rules[0](Document("t", "我们今天去公园散步。" * 20)) == "has_kana"


def test_unknown_preset_and_rule_get_did_you_mean():
    with pytest.raises(KeyError, match="did you mean 'llmjp_v1'"):
        PRESETS.get("llmjp_v2")
    with pytest.raises(KeyError, match="did you mean 'rare_kuten'"):
        make_rule("rare_kutan")
    with pytest.raises(ConfigError, match="is not one of"):
        make_rule("ng_word_count", {"count": "unique", "path": "unused"})


@pytest.mark.parametrize("rule, sample", [("discard_ads", "ad_words.txt"),
                                          ("ng_word_count", "ng_words.txt")])
def test_default_word_lists_resolve(rule, sample):
    shipped = REPO / "data" / "ja" / "noisy" / sample
    if not shipped.is_file():
        pytest.skip(f"the sample list data/ja/noisy/{sample} is not in this checkout")
    assert make_rule(rule)._matcher.words == load_word_list(shipped)
