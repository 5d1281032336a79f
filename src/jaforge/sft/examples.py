"""`SFTExample`: what every SFT data format becomes, and what the templates render.

    SFTExample("dolly-1", [Message("user", "日本の首都は？"), Message("assistant", "東京です。")])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from jaforge.sft.data import Message


@dataclass
class SFTExample:
    id: str
    messages: list[Message]
    """Optional system message, then user/assistant turns ending with the assistant."""
    input: str = ""
    """Context of the first instruction (Alpaca's 入力), empty when none."""
    rejected: Optional[str] = None
    """Preference pairs: the dispreferred final reply (messages end with the chosen one)."""
    source: str = ""

    @property
    def text(self) -> str:
        """All of the example's text (for n-gram checks)."""
        return "\n".join([m.content for m in self.messages] + [self.input, self.rejected or ""])
