"""Footer trimming for web pages: the cleaning step of the Swallow corpus (its phase 4) and of
the `swallow_v1`, `ja_web` and `ja_docs` presets. The keyword list is jaforge's own; pass
`keywords` to use another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from annotated_types import Ge, Le

from jaforge.io.document import Document
from jaforge.corpus.rules.base import Rule, register_rule
from jaforge.corpus.rules.wordlists import WordMatcher

DEFAULT_FOOTER_KEYWORDS = [
    "Copyright", "copyright", "COPYRIGHT", "©", "(C)", "(c)", "All rights reserved",
    "All Rights Reserved", "ALL RIGHTS RESERVED", "無断転載", "無断複製", "利用規約",
    "ご利用規約", "サイトポリシー", "プライバシーポリシー", "個人情報保護方針",
    "特定商取引法に基づく表記", "お問い合わせ", "お問合せ", "問い合わせ", "会社概要",
    "運営会社", "サイトマップ", "ページトップ", "ページの先頭へ", "トップへ戻る",
    "トップページ", "このページの先頭", "トラックバック", "広告掲載", "ログイン", "新規登録",
]


@register_rule("footer_trim")
@dataclass
class FooterTrim(Rule):
    """Cut the footer of a web page: from the first of the last `max_lines` lines that is
    dominated by footer keywords (Copyright, ©, 利用規約, お問い合わせ, …) to the end.

    Everything after the first footer line goes with it, since footers also hold lines without
    keywords (addresses, phone numbers). Never drops; documents without a footer are unchanged.
    """

    keywords: list[str] = field(default_factory=lambda: list(DEFAULT_FOOTER_KEYWORDS))
    max_lines: Annotated[int, Ge(0)] = 10  # how many trailing lines may belong to the footer
    keyword_share: Annotated[float, Ge(0), Le(1)] = 0.3  # a line is a footer line when keywords cover more than this share

    def __post_init__(self) -> None:
        self._matcher = WordMatcher(self.keywords)

    def __call__(self, doc: Document) -> str | None:
        lines = doc.text.split("\n")
        first = max(len(lines) - self.max_lines, 0)
        if not self._matcher.search("\n".join(lines[first:])):
            return None  # the common case: no keyword at all near the end
        for i in range(first, len(lines)):
            if self._is_footer(lines[i]):
                doc.text = "\n".join(lines[:i]).rstrip()
                break
        return None

    def _is_footer(self, line: str) -> bool:
        line = line.strip()
        return bool(line) and self._matcher.matches(line).chars / len(line) > self.keyword_share
