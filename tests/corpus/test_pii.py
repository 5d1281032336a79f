import pytest

from jaforge.corpus.pii import PIIMasker, luhn_valid, mask_pii, my_number_check_digit


def my_number(first11: str) -> str:
    return first11 + str(my_number_check_digit(first11))


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
    ("192.0.2.10", "ipv4"), ("2001:db8::1", "ipv6"), ("2001:0db8:0:0:0:0:0:1", "ipv6"),
])
def test_each_kind_is_masked_with_its_placeholder(value, kind):
    masked, counts = mask_pii(f"連絡先は{value}です。")
    assert value not in masked and counts == {kind: 1}


@pytest.mark.parametrize("text", ["2024-01-15に開催", "時刻は12:30:45です", "価格は1,234,567円",
                                  "郵便番号100-0001", "バージョン1.2.3", "第3.5節"])
def test_ordinary_numbers_survive(text):
    assert mask_pii(text) == (text, {})


def test_my_number_with_separators_and_type_selection():
    number = my_number("98765432109")
    spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
    masked, counts = mask_pii(f"番号は{spaced}、メールはa@example.jp")
    assert masked == "番号は<MY_NUMBER>、メールは<EMAIL>" and counts == {"my_number": 1, "email": 1}
    masked, counts = mask_pii("メールはa@example.jp", types=["phone_jp"])
    assert counts == {} and "a@example.jp" in masked


def test_masker_step_counts_and_rejects_unknown_types():
    from jaforge.corpus.document import Document

    masker = PIIMasker(["email", "ipv4"])
    doc = Document("d", "a@example.com と b@example.org から 203.0.113.5 へ")
    assert masker(doc) is None
    assert doc.text == "<EMAIL> と <EMAIL> から <IPV4> へ" and masker.counts == {"email": 2, "ipv4": 1}
    with pytest.raises(ValueError, match="unknown type"):
        PIIMasker(["passport"])
