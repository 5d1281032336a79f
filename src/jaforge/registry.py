"""One small registry for every pluggable family (corpus filters, blocks, optimizers, tasks…).

    FILTERS = Registry("filter")

    @FILTERS.register("min_length")
    class MinLength: ...

    FILTERS.get("min_lenght")  # UnknownNameError: unknown filter 'min_lenght'; did you mean 'min_length'? known: …
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from jaforge.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, known: list[str]) -> str:
    """A ' did you mean …?' suffix for an unknown name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class Registry(Generic[T]):
    """Maps names to objects of one family; unknown names fail with the known list."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.family} '{name}' is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = sorted(self._entries)
            raise UnknownNameError(
                f"unknown {self.family} '{name}'{did_you_mean(name, known)} known: {', '.join(known)}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
