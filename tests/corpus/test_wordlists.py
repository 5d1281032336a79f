import os
import random
import re
from pathlib import Path

import pytest

from jaforge.io.document import Document
from jaforge.corpus.rules.wordlists import (WordListError, WordMatcher, WordMatches,
                                            cached_matches, load_word_list, shipped_data_path)
from jaforge.corpus.textstats import KATAKANA_CLASS


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_load_word_list_skips_comments_blanks_and_repeats(tmp_path):
    path = write(tmp_path / "ng.txt", "\ufeff# NG words\n\n  ポート \n死ね\n#死ね\nポート\n\t\n")
    assert load_word_list(path) == ["ポート", "死ね"]


def test_bad_encoding_names_file_and_line(tmp_path):
    path = tmp_path / "ng.txt"
    path.write_bytes("一行目\n二行目\n".encode("utf-8") + "三行目\n".encode("shift_jis"))
    with pytest.raises(WordListError, match=r"ng\.txt:3: not valid UTF-8"):
        load_word_list(path)


def test_missing_list_names_the_path(tmp_path):
    with pytest.raises(WordListError, match="not found: .*absent.txt"):
        load_word_list(tmp_path / "absent.txt")
    with pytest.raises(WordListError, match="absent.txt"):
        WordMatcher.from_file(tmp_path / "absent.txt")


def test_longest_word_wins_and_matches_do_not_overlap():
    matcher = WordMatcher(["東京", "東京タワー", "タワー"])
    assert matcher.findall("東京タワーと東京駅とタワー") == ["東京タワー", "東京", "タワー"]
    assert matcher.matches("東京タワーと東京駅と東京") == WordMatches(count=3, chars=9, distinct=2)


def test_empty_list_matches_nothing():
    assert WordMatcher([]).matches("なんでも") == WordMatches(0, 0, 0)
    assert not WordMatcher([""]).search("なんでも")


MANUAL = "データをインポートしてから、サポートページでポートレートを確認します。"


def test_katakana_boundary_keeps_words_inside_longer_katakana_words():
    assert WordMatcher(["ポート"]).matches(MANUAL).count == 3  # plain substring matching
    assert WordMatcher(["ポート"], katakana_boundary=True).matches(MANUAL).count == 0


def test_katakana_boundary_still_matches_standalone_words():
    matcher = WordMatcher(["ポート", "死ね"], katakana_boundary=True)
    text = "ポート番号を開ける。ポート・スキャンは禁止。最後はポート"
    assert matcher.findall(text) == ["ポート", "ポート", "ポート"]
    # Only katakana words get the boundary: other words still match inside any text.
    assert matcher.findall("しねしね死ねしね") == ["死ね"]


def test_katakana_boundary_falls_back_to_a_shorter_word():
    matcher = WordMatcher(["ポート", "ポ"], katakana_boundary=True)
    assert matcher.findall("インポートとポ。") == ["ポ"]  # ポート is inside インポート; ポ stands alone


def _reference_findall(words, text, katakana_boundary):
    """The plain definition: one alternation, longest word first, lookarounds per word."""
    alts = []
    for w in sorted(set(words), key=len, reverse=True):
        if katakana_boundary and re.fullmatch(f"{KATAKANA_CLASS}+", w):
            alts.append(f"(?<!{KATAKANA_CLASS}){re.escape(w)}(?!{KATAKANA_CLASS})")
        else:
            alts.append(re.escape(w))
    return re.findall("|".join(alts), text)


SMALL_ALPHABET = "ポートインあい漢ー・"
# Over 32 first characters: the matcher then dispatches on the first character in groups.
LARGE_ALPHABET = SMALL_ALPHABET + "".join(chr(0x3042 + 2 * i) for i in range(40)) + "カキクケコ"


@pytest.mark.parametrize("alphabet", [SMALL_ALPHABET, LARGE_ALPHABET], ids=["small", "large"])
@pytest.mark.parametrize("katakana_boundary", [False, True])
def test_trie_regex_agrees_with_longest_first_alternation(katakana_boundary, alphabet):
    rng = random.Random(3)
    cases_with_matches = 0
    for _ in range(100):
        text = "".join(rng.choice(alphabet) for _ in range(80))
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
                 for _ in range(rng.randint(1, 60))]
        for _ in range(rng.randint(1, 20)):  # words that do occur
            start = rng.randrange(len(text))
            words.append(text[start:start + rng.randint(1, 5)])
        expected = _reference_findall(words, text, katakana_boundary)
        assert WordMatcher(words, katakana_boundary).findall(text) == expected, (words, text)
        cases_with_matches += bool(expected)
    assert cases_with_matches > 50


def test_from_file_is_shared_and_reloads_when_the_file_changes(tmp_path):
    path = write(tmp_path / "ng.txt", "ポート\n")
    first = WordMatcher.from_file(path)
    assert WordMatcher.from_file(path) is first
    write(path, "ポート\nサポート\n")
    os.utime(path, ns=(1, 2_000_000_000))  # a new mtime even on coarse file systems
    assert WordMatcher.from_file(path).words == ["ポート", "サポート"]


def test_cached_matches_computes_once_per_document(tmp_path, monkeypatch):
    matcher = WordMatcher.from_file(write(tmp_path / "ng.txt", "ポート\n"))
    calls = []

    def counting(text):
        calls.append(text)
        return WordMatcher.matches(matcher, text)

    monkeypatch.setattr(matcher, "matches", counting)
    doc = Document("d", "ポート。")
    assert cached_matches(doc, matcher).count == 1
    assert cached_matches(doc, matcher).count == 1
    assert len(calls) == 1


def test_shipped_data_path(tmp_path, monkeypatch):
    lists = tmp_path / "ja" / "lists"
    lists.mkdir(parents=True)
    write(lists / "mine.txt", "x\n")
    monkeypatch.setenv("JAFORGE_DATA_DIR", str(tmp_path))
    assert shipped_data_path("ja/lists/mine.txt") == lists / "mine.txt"
    with pytest.raises(WordListError, match=r"ja/lists/absent\.txt not found.*your own list"):
        shipped_data_path("ja/lists/absent.txt")


def test_shipped_data_path_finds_the_repository_data_dir(monkeypatch):
    repo_list = Path(__file__).resolve().parents[2] / "data" / "ja" / "noisy" / "ng_words.txt"
    if not repo_list.is_file():
        pytest.skip("the sample list data/ja/noisy/ng_words.txt is not in this checkout")
    monkeypatch.delenv("JAFORGE_DATA_DIR", raising=False)
    monkeypatch.chdir("/")  # found beside src/, not through the working directory
    assert shipped_data_path("ja/noisy/ng_words.txt") == repo_list
