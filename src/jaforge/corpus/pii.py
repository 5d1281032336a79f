"""PII masking: e-mail, Japanese phone numbers, My Number, credit cards, IPv4 and IPv6 addresses.

Each match is replaced by a typed placeholder (`<EMAIL>`, `<PHONE>`, …) and counted by type.
Numbers with a check digit are masked only when it is valid (Luhn for cards, the official
My Number check digit), so ordinary 12- or 16-digit figures survive.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Callable

from jaforge.corpus.document import Document

PLACEHOLDERS = {
    "email": "<EMAIL>", "phone_jp": "<PHONE>", "my_number": "<MY_NUMBER>",
    "credit_card": "<CREDIT_CARD>", "ipv4": "<IPV4>", "ipv6": "<IPV6>",
}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])\d{4}([ -]?)\d{4}\1\d{4}\1\d{4}(?![\d]|[ -]\d)")
_MY_NUMBER = re.compile(r"(?<![\d-])\d{4}([ -]?)\d{4}\1\d{4}(?![\d]|[ -]\d)")
_PHONE = re.compile(
    r"(?<![\d+-])(?:\+81[ -]?|\(?0)\d{0,4}(?:[-) ]|）|\(|（)?\d{1,4}(?:[-) ]|）)?\d{3,4}(?![\d-])"
)
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                   r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z:])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def my_number_check_digit(first11: str) -> int:
    """The 12th digit of an Individual Number from its first 11 (official weights 2–7, 2–6)."""
    total = sum(int(d) * (n + 1 if n <= 6 else n - 5)
                for n, d in enumerate(reversed(first11), start=1))
    rest = total % 11
    return 0 if rest <= 1 else 11 - rest


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _is_card(match: str) -> bool:
    return luhn_valid(_digits(match))


def _is_my_number(match: str) -> bool:
    digits = _digits(match)
    return my_number_check_digit(digits[:11]) == int(digits[11])


def _is_phone(match: str) -> bool:
    digits = _digits(match)
    if digits.startswith("81"):
        digits = "0" + digits[2:]
    if re.match(r"0[5789]0", digits):
        return len(digits) == 11
    if digits.startswith(("0120", "0800")):
        return len(digits) in (10, 11)
    return len(digits) == 10


def _is_ipv6(match: str) -> bool:
    try:
        ipaddress.IPv6Address(match)
    except ValueError:
        return False
    return True


_MATCHERS: list[tuple[str, re.Pattern, Callable[[str], bool] | None]] = [
    ("email", _EMAIL, None),
    ("ipv6", _IPV6, _is_ipv6),
    ("credit_card", _CARD, _is_card),
    ("my_number", _MY_NUMBER, _is_my_number),
    ("phone_jp", _PHONE, _is_phone),
    ("ipv4", _IPV4, None),
]


def mask_pii(text: str, types: list[str] | None = None) -> tuple[str, Counter[str]]:
    """The text with each PII match replaced by its placeholder, and the count per type."""
    counts: Counter[str] = Counter()
    for kind, pattern, valid in _MATCHERS:
        if types is not None and kind not in types:
            continue

        def replace(match: re.Match, kind=kind, valid=valid) -> str:
            if valid is not None and not valid(match.group(0)):
                return match.group(0)
            counts[kind] += 1
            return PLACEHOLDERS[kind]

        text = pattern.sub(replace, text)
    return text, counts


class PIIMasker:
    """Corpus step: masks PII in place, counting masks per type in `self.counts`; never drops."""

    name = "pii"

    def __init__(self, types: list[str]):
        unknown = sorted(set(types) - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(f"pii.types: unknown type(s) {unknown}; known: {sorted(PLACEHOLDERS)}")
        self.types = types
        self.counts: Counter[str] = Counter()

    def __call__(self, doc: Document) -> str | None:
        doc.text, counts = mask_pii(doc.text, self.types)
        self.counts.update(counts)
        return None
