"""Quality rules for Japanese web text, and the presets users cite (Swallow v1, LLM-jp v1, HojiChar).

Importing this package registers every rule in `FILTERS` and every preset in `PRESETS`.
"""

from jaforge.corpus.rules.base import FILTERS, PRESETS, Rule, make_rule, register_rule, resolve_rules
from jaforge.corpus.rules import footer, swallow, llmjp, hojichar, web  # noqa: F401  (registration)

__all__ = ["FILTERS", "PRESETS", "Rule", "make_rule", "register_rule", "resolve_rules"]
