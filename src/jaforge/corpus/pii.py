"""PII masking: e-mail, Japanese phone numbers, My Number, credit cards, IPv4 and IPv6 addresses.

Each kind has a pattern that finds candidates and a validator that keeps only plausible ones, so
technical text survives: a card number needs a valid Luhn digit, an issuer prefix (IIN) and a
length that issuer uses, and is not one digit repeated; a My Number needs its check digit; a
phone number needs a Japanese area or mobile prefix and the right number of digits; none of
them is taken from a hex dump; an IPv6 address needs real hex groups (not `::`, not `a::b`
scopes of code); an address in `keep_ip_ranges` (documentation examples, private networks) and
an IPv4 written after "version" or made of parts below 16 (section numbers 8.6.3.1) is left
alone.

    masked, counts = mask_pii("連絡先: taro@example.co.jp")   # "連絡先: <EMAIL>", {"email": 1}
    spans = find_pii(text)                                    # [PIIMatch(start, end, kind), …]

`PIIMasker` is the corpus step: it masks the text and every string in the metadata.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Any, Callable, Iterable, NamedTuple

from jaforge.io.document import Document
from jaforge.errors import ConfigError

PLACEHOLDERS = {
    "email": "<EMAIL>", "phone_jp": "<PHONE>", "my_number": "<MY_NUMBER>",
    "credit_card": "<CREDIT_CARD>", "ipv4": "<IPV4>", "ipv6": "<IPV6>",
}
IP_RANGES = {
    "documentation": ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32",
                      "3fff::/20"],
    "private": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
                "100.64.0.0/10", "0.0.0.0/8", "::1/128", "::/128", "fe80::/10", "fc00::/7"],
    "reserved": ["224.0.0.0/4", "240.0.0.0/4", "ff00::/8", "::ffff:0:0/96"],  # multicast,
    # netmasks (255.255.255.0), IPv4-mapped IPv6
}
DEFAULT_KEEP = ("documentation", "private", "reserved")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.([A-Za-z]{2,})")
_FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "css", "js", "html", "htm", "pdf",
                  "txt", "zip", "gz", "py", "json"}  # image@2x.png is a file name
_CARD = re.compile(r"(?<![\d-])(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -]?)\d{6}\2\d{4,5}"
                   r"|\d{13,19})(?![\d]|[ -]\d)")
_MY_NUMBER = re.compile(r"(?<![\d-])\d{4}([ -]?)\d{4}\1\d{4}(?![\d]|[ -]\d)")
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+-])(?:\+81[ -]?|\(?0)\d{0,4}(?:[-) ]|）|\(|（)?\d{1,4}(?:[-) ]|）)?\d{3,4}(?![\d-])"
)
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                   r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z:.])")
_VERSION_BEFORE = re.compile(r"(?:\b[vV]|version|Version|VERSION|\bver\.?|バージョン|リリース)\s*$")
_HEX_GROUP = r"(?<![0-9A-Za-z])[0-9A-Fa-f]{2,4}[ ]"
_HEX_RUN = re.compile(f"(?:{_HEX_GROUP}){{6,}}")  # xxd and od print 8 groups a line
_HEX_BEFORE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{2,4}[ ]$")
_HEX_AFTER = re.compile(r"^[ ][0-9A-Fa-f]{2,4}(?![0-9A-Za-z])")
_HEX_OFFSET = re.compile(r"^\s*[0-9A-Fa-f]{4,8}:\s")

# Issuer prefixes (inclusive ranges of the leading digits) and the lengths each issuer uses.
CARD_ISSUERS = [
    ("4", "4", (16, 19)),                          # Visa (13 digits: retired)
    ("51", "55", (16,)), ("2221", "2720", (16,)),  # Mastercard
    ("34", "34", (15,)), ("37", "37", (15,)),      # American Express
    ("3528", "3589", (16, 17, 18, 19)),            # JCB
    ("300", "305", (14, 16, 17, 18, 19)), ("36", "36", (14, 16, 17, 18, 19)),
    ("38", "39", (16, 17, 18, 19)),                # Diners Club
    ("6011", "6011", (16, 17, 18, 19)), ("644", "649", (16, 17, 18, 19)),
    ("65", "65", (16, 17, 18, 19)),                # Discover
    ("62", "62", (16, 17, 18, 19)),                # UnionPay
    ("50", "50", tuple(range(12, 20))), ("56", "69", tuple(range(12, 20))),  # Maestro
]


class PIIMatch(NamedTuple):
    start: int
    end: int
    kind: str


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


def _one_digit(digits: str) -> bool:
    return len(set(digits)) == 1


def _line_of(text: str, start: int, end: int, reach: int = 200) -> str:
    """The line around a span, at most `reach` characters either side of it."""
    first = max(text.rfind("\n", max(start - reach, 0), start) + 1, start - reach, 0)
    last = text.find("\n", end, end + reach)
    return text[first : last if last >= 0 else end + reach]


def in_hex_dump(text: str, start: int, end: int) -> bool:
    """Whether the span sits in a hex dump line: one that starts with an offset (`0000a0: `),
    holds six or more groups of 2–4 hex digits, or where the span has a hex group beside it (a card
    number written in four groups of four alone is not a dump)."""
    line = _line_of(text, start, end)
    if _HEX_OFFSET.match(line) or _HEX_RUN.search(line + " "):
        return True
    return bool(_HEX_BEFORE.search(text[max(start - 6, 0) : start])
                or _HEX_AFTER.match(text[end : end + 6]))


def card_issuer_fits(digits: str) -> bool:
    return any(low <= digits[: len(low)] <= high and len(digits) in lengths
               for low, high, lengths in CARD_ISSUERS)


def _is_card(text: str, m: re.Match) -> bool:
    digits = _digits(m.group(0))
    return (luhn_valid(digits) and card_issuer_fits(digits) and not _one_digit(digits)
            and not in_hex_dump(text, m.start(), m.end()))


def _is_my_number(text: str, m: re.Match) -> bool:
    digits = _digits(m.group(0))
    return (my_number_check_digit(digits[:11]) == int(digits[11]) and not _one_digit(digits)
            and not in_hex_dump(text, m.start(), m.end()))


def _is_phone(text: str, m: re.Match) -> bool:
    digits = _digits(m.group(0))
    if m.group(0).startswith("+81"):
        digits = "0" + digits[2:]
    if len(digits) < 2 or digits[1] == "0" or _one_digit(digits[1:]) or digits in "01234567890":
        return False  # 00… is the international prefix, not an area code; [0123456789] a class
    if not re.search(r"[-()（）]", m.group(0)) and in_hex_dump(text, m.start(), m.end()):
        return False
    if re.match(r"0[5789]0", digits):
        return len(digits) == 11
    if digits.startswith(("0120", "0800")):
        return len(digits) in (10, 11)
    return len(digits) == 10


def _is_email(text: str, m: re.Match) -> bool:
    return m.group(1).lower() not in _FILE_SUFFIXES


class AddressFilter:
    """IP addresses to mask: well-formed, outside the kept ranges, not a version number."""

    def __init__(self, keep: Iterable[str] = DEFAULT_KEEP):
        self.networks = []
        for item in keep:
            for cidr in IP_RANGES.get(item, [item]):
                try:
                    self.networks.append(ipaddress.ip_network(cidr, strict=False))
                except ValueError:
                    raise ConfigError(f"'pii.keep_ip_ranges': '{item}' is neither a CIDR range nor "
                                      f"one of {', '.join(IP_RANGES)}") from None

    def kept(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)

    def ipv4(self, text: str, m: re.Match) -> bool:
        if _VERSION_BEFORE.search(text[max(m.start() - 12, 0) : m.start()]):
            return False
        if all(int(part) < 16 for part in m.group(0).split(".")):
            return False  # 8.6.3.1, 2.8.1.1: section and revision numbers (and the example 1.2.3.4)
        return not self.kept(ipaddress.IPv4Address(m.group(0)))

    def ipv6(self, text: str, m: re.Match) -> bool:
        value = m.group(0)
        groups = [g for g in value.split(":") if g]
        if len(groups) < 2 or not any(c.isdigit() for c in value):
            return False  # `::`, `a::b` scopes and words of hex letters are code, not addresses
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError:
            return False
        return not self.kept(address)


Validator = Callable[[str, re.Match], bool]


def matchers(keep: Iterable[str] = DEFAULT_KEEP) -> list[tuple[str, re.Pattern, Validator]]:
    """(kind, pattern, validator) in priority order: an earlier kind wins an overlap."""
    addresses = AddressFilter(keep)
    return [("email", _EMAIL, _is_email), ("ipv6", _IPV6, addresses.ipv6),
            ("credit_card", _CARD, _is_card), ("my_number", _MY_NUMBER, _is_my_number),
            ("phone_jp", _PHONE, _is_phone), ("ipv4", _IPV4, addresses.ipv4)]


_DEFAULT_MATCHERS = matchers()


def find_pii(text: str, types: Iterable[str] | None = None,
             kinds: list[tuple[str, re.Pattern, Validator]] | None = None) -> list[PIIMatch]:
    """Validated PII spans of `text`, non-overlapping, in text order."""
    wanted = set(types) if types is not None else None
    taken: list[PIIMatch] = []
    for kind, pattern, valid in kinds or _DEFAULT_MATCHERS:
        if wanted is not None and kind not in wanted:
            continue
        for m in pattern.finditer(text):
            if any(m.start() < t.end and t.start < m.end() for t in taken):
                continue
            if valid(text, m):
                taken.append(PIIMatch(m.start(), m.end(), kind))
    return sorted(taken)


def mask_spans(text: str, spans: list[PIIMatch]) -> str:
    parts, last = [], 0
    for span in spans:
        parts += [text[last : span.start], PLACEHOLDERS[span.kind]]
        last = span.end
    return "".join(parts) + text[last:]


def mask_pii(text: str, types: Iterable[str] | None = None,
             kinds: list[tuple[str, re.Pattern, Validator]] | None = None) -> tuple[str, Counter[str]]:
    """The text with each PII span replaced by its placeholder, and the count per type."""
    spans = find_pii(text, types, kinds)
    return mask_spans(text, spans), Counter(s.kind for s in spans)


class PIIMasker:
    """Corpus step: masks PII in the text and in every metadata string (keys stay), counting
    masks per type in `self.counts`; never drops."""

    name = "pii"

    def __init__(self, types: list[str], keep_ip_ranges: Iterable[str] = DEFAULT_KEEP):
        unknown = sorted(set(types) - set(PLACEHOLDERS))
        if unknown:
            raise ConfigError(f"'pii.types': unknown type(s) {unknown}; known: {sorted(PLACEHOLDERS)}")
        self.types = list(types)
        self._kinds = matchers(keep_ip_ranges)
        self.counts: Counter[str] = Counter()

    def mask(self, text: str) -> str:
        masked, counts = mask_pii(text, self.types, self._kinds)
        self.counts.update(counts)
        return masked

    def mask_value(self, value: Any) -> Any:
        """A metadata value with every string in it masked (dicts and lists at any depth)."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.mask_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.mask_value(v) for v in value]
        return value

    def __call__(self, doc: Document) -> str | None:
        doc.text = self.mask(doc.text)
        doc.id = self.mask(doc.id)
        doc.meta = self.mask_value(doc.meta)
        return None
