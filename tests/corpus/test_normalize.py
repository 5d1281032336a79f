from jaforge.corpus.config import NormalizeConfig
from jaforge.corpus.normalize import normalize_text


def test_nfkc_whitespace_and_japanese_punctuation():
    raw = "ＡＢＣ　これはテスト，です．ｶﾀｶﾅ\r\n\n\n\n  次の行  "
    assert normalize_text(raw, NormalizeConfig()) == "ABC これはテスト、です。カタカナ\n\n次の行"


def test_punctuation_only_after_japanese_characters():
    text = normalize_text("円周率は3.14で、1,000円です。ver.2を使う", NormalizeConfig())
    assert "3.14" in text and "1,000" in text and "ver.2" in text
    assert normalize_text("終わり...", NormalizeConfig()) == "終わり..."


def test_each_part_can_be_switched_off():
    cfg = NormalizeConfig(nfkc=False, whitespace=False, japanese_punctuation=False)
    raw = "ＡＢＣ　です，  "
    assert normalize_text(raw, cfg) == raw
    assert normalize_text("です，", NormalizeConfig(nfkc=False)) == "です、"
