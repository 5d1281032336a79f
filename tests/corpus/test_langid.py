import sys
import types

from jaforge.corpus.config import LanguageConfig
from jaforge.io.document import Document
from jaforge.corpus.langid import JapaneseDetector, script_shares

JA = "今日は天気がよいので、公園まで歩いて行きました。"


def test_script_statistics_separate_japanese_from_other_scripts():
    detect = JapaneseDetector(LanguageConfig())
    assert detect(Document("ja", JA)) is None
    assert detect(Document("en", "The weather was fine, so we walked to the park.")) == "not_japanese"
    assert detect(Document("zh", "今天天气很好，所以我们走路去公园。")) == "not_japanese"  # no kana
    assert detect(Document("ko", "오늘은 날씨가 좋아서 공원까지 걸어갔습니다.")) == "not_japanese"
    japanese, kana, letters = script_shares(JA)
    assert japanese == 1.0 and 0.3 < kana < 0.8 and letters == 22


def test_thresholds_are_configurable():
    mixed = JA + " The rest of this page is written in English, and it is long enough."
    assert JapaneseDetector(LanguageConfig())(Document("m", mixed)) == "not_japanese"
    assert JapaneseDetector(LanguageConfig(min_japanese_ratio=0.25))(Document("m", mixed)) is None


def test_optional_fasttext_model(monkeypatch, tmp_path):
    """With a model, documents the model does not call Japanese are dropped as `langid_model`."""

    class FakeModel:
        def predict(self, text):
            return (["__label__ja"], [0.9]) if "天気" in text else (["__label__zh"], [0.8])

    fake = types.SimpleNamespace(load_model=lambda path: FakeModel())
    monkeypatch.setitem(sys.modules, "fasttext", fake)
    detect = JapaneseDetector(LanguageConfig(fasttext_model=str(tmp_path / "lid.bin")))
    assert detect(Document("a", JA)) is None
    assert detect(Document("b", "これは別の話題についての日本語の文章です。")) == "langid_model"


CODE = "int shmctl(int shmid, int cmd, struct shmid_ds *buf); if (shmid < 0) return EINVAL;\n"


def test_a_japanese_page_full_of_code_is_japanese_by_its_letters():
    """Many Japanese letters at a lower share (a man page with code) are Japanese; a few Japanese
    letters in an English page are not; min_japanese_letters 0 is the share test alone."""
    manual = "\n".join(JA * 3 + "\n" + CODE * 4 for _ in range(20))  # 1,320 Japanese letters
    share, _, letters = script_shares(manual)
    assert letters >= 1000 and 0.2 <= share < 0.5
    assert JapaneseDetector(LanguageConfig())(Document("man", manual)) is None
    assert JapaneseDetector(LanguageConfig(min_japanese_letters=0))(Document("man", manual)) == "not_japanese"
    english = JA * 10 + " " + "This page is written in English with a short glossary. " * 60
    assert script_shares(english)[2] < 1000
    assert JapaneseDetector(LanguageConfig())(Document("en", english)) == "not_japanese"
