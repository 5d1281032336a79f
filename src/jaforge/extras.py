"""Optional heavy imports, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from jaforge.errors import JaforgeError


class MissingExtraError(JaforgeError, ImportError):
    """Raised when a feature needs an optional dependency that is not installed."""


def require(module: str, extra: str, feature: str = "") -> ModuleType:
    """Import `module` or fail with `pip install 'jaforge[extra]'` in the message."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        what = f" for {feature}" if feature else ""
        raise MissingExtraError(
            f"'{module}' is needed{what} but is not installed; run: pip install 'jaforge[{extra}]'"
        ) from err
