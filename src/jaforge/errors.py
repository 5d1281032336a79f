"""The errors a user sees: each names the file (and line) or the config key and says what to do.

The command line prints a `JaforgeError` as one line and exits with a non-zero code; anything else
is an internal error (one line too, the traceback only with `--debug`). Code that reads a file or
calls a library translates that library's errors here, where it still knows the file or key:

    with input_errors(path, "a safetensors model file"):
        weights = load_file(path)
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional


class JaforgeError(Exception):
    """A failure the user can fix: bad config, bad input, a busy or inconsistent run directory."""

    exit_code = 1


class ConfigError(JaforgeError, ValueError):
    """A config key or value that does not fit the stage's dataclass or its declared range."""

    exit_code = 2


class UnknownNameError(ConfigError, KeyError):
    """A name no registry knows (a filter, task, optimiser …); the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


class InputError(JaforgeError, ValueError):
    """An input file that cannot be read or does not hold what the stage needs."""

    def __init__(self, path: str | Path, message: str, line: Optional[int] = None):
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # crosses process boundaries (worker pools, Ray) unchanged
        return type(self), (self.path, self.message, self.line)


class RunDirError(JaforgeError):
    """An output directory that another run holds, or whose saved run does not match the config."""


@contextlib.contextmanager
def input_errors(path: str | Path, what: str) -> Iterator[None]:
    """Turn a library's read error into an InputError naming `path` and what it should be.

    Wrap only the call that reads the file: libraries raise anything from OSError to a bare
    Exception (tokenizers) for a truncated or corrupt file, so everything but MemoryError counts."""
    try:
        yield
    except (JaforgeError, MemoryError):
        raise
    except (FileNotFoundError, IsADirectoryError):
        raise InputError(path, f"not found (expected {what})") from None
    except Exception as err:  # noqa: BLE001 — see the docstring
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(path, f"cannot be read as {what}: {detail[:300]}") from None
