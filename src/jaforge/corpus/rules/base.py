"""The contract of a quality rule, and the registries that rules and presets join.

A rule is a dataclass whose fields are its typed parameters. Calling it on a document returns
None to keep the document, or a short drop reason (normally the rule's registered name) to drop
it. A rule may also rewrite `doc.text` (e.g. footer trimming) and return None.

    @register_rule("min_length")
    @dataclass
    class MinLength(Rule):
        min_chars: int = 400            # drop documents shorter than this
        def __call__(self, doc):
            return None if len(doc.text) >= self.min_chars else self.name

A preset is a registered function returning an ordered list of (rule name, params) pairs.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from jaforge.config import build
from jaforge.io.document import Document
from jaforge.registry import Registry


class Rule:
    """Base class of quality rules; subclasses are dataclasses registered in FILTERS."""

    name: ClassVar[str] = ""

    def __call__(self, doc: Document) -> str | None:
        raise NotImplementedError


FILTERS: Registry[type[Rule]] = Registry("filter")
PRESETS: Registry[Callable[[], list[tuple[str, dict[str, Any]]]]] = Registry("quality preset")


def register_rule(name: str) -> Callable[[type[Rule]], type[Rule]]:
    """Register a rule class under `name` and set its `name` (the default drop reason)."""

    def add(cls: type[Rule]) -> type[Rule]:
        cls.name = name
        return FILTERS.register(name)(cls)

    return add


def make_rule(name: str, params: dict[str, Any] | None = None, where: str = "") -> Rule:
    """Build a registered rule from its name and (type-checked) parameters."""
    cls = FILTERS.get(name)
    return build(cls, params or {}, where=where or f"quality.{name}")


def resolve_rules(preset: str | None, extra: list[dict[str, Any]], params: dict[str, dict[str, Any]],
                  disable: list[str]) -> list[Rule]:
    """The rule list of a quality config: preset minus `disable`, plus `extra`, with `params` applied."""
    spec = [(name, dict(p)) for name, p in (PRESETS.get(preset)() if preset else [])]
    names = [name for name, _ in spec]
    for key, listed in (("quality.disable", disable), ("quality.params", list(params))):
        for name in listed:
            if name not in names and not any(r.get("name") == name for r in extra):
                FILTERS.get(name)  # an unknown name fails here with a did-you-mean
                raise KeyError(f"{key}: rule '{name}' is not in preset '{preset}' or quality.rules")
    spec = [(name, p) for name, p in spec if name not in disable]
    for i, rule in enumerate(extra):
        if "name" not in rule:
            raise KeyError(f"quality.rules[{i}]: missing 'name' (known rules: {', '.join(FILTERS.names())})")
        spec.append((rule["name"], {k: v for k, v in rule.items() if k != "name"}))
    return [make_rule(name, {**p, **params.get(name, {})}) for name, p in spec]
