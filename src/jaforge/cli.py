"""The `jaforge` command: `jaforge <stage> --config preset.yaml --a.b value …`.

`jaforge --help` lists the stages; `jaforge <stage> --help` lists every config key with its
type, range, default and meaning.

Every failure ends in one line on stderr and a non-zero exit code: 2 for a bad config or command
line, 1 for bad input or a run that cannot go on, 130 when interrupted. The traceback is printed
only with `--debug`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from jaforge.config import ConfigError, describe, load_config
from jaforge.errors import JaforgeError
from jaforge.registry import did_you_mean
from jaforge.stages import STAGES

USAGE = "usage: jaforge <stage> [--config FILE.yaml] [--key.sub VALUE ...] [--debug]"


def parse_overrides(args: list[str]) -> tuple[str | None, list[tuple[str, str]]]:
    """`--config F` and `--a.b v` / `--a.b=v` pairs from the command line."""
    config, overrides = None, []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument '{arg}'; {USAGE}")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise ConfigError(f"'--{key}' needs a value")
            value = args[i + 1]
            i += 1
        if key == "config":
            config = value
        else:
            overrides.append((key, value))
        i += 1
    return config, overrides


def _print_stages() -> None:
    print(USAGE + "\n\nstages:")
    for name in STAGES.names():
        print(f"  {name:<16} {STAGES.get(name).summary}")
    print("\n`jaforge <stage> --help` lists that stage's config keys.")


def _report(result: Any) -> None:
    """Print a stage's result: a table, a Markdown summary, or one section per lifecycle stage."""
    import dataclasses
    import json

    from jaforge.corpus.stats import CorpusStats, summary_table
    from jaforge.lifecycle import LifecycleResult

    if isinstance(result, LifecycleResult):
        for name, stage_result in result.items():
            print(f"## {name}\n")
            _report(stage_result)
    elif isinstance(result, CorpusStats):
        print(summary_table(result))
    elif hasattr(result, "markdown"):
        print(result.markdown())
    elif dataclasses.is_dataclass(result):
        print(json.dumps(dataclasses.asdict(result), ensure_ascii=False, indent=1) + "\n")
    elif result is not None:
        print(json.dumps(result, ensure_ascii=False, indent=1, default=str) + "\n")


def _fail(name: str, err: BaseException, debug: bool) -> int:
    """One line on stderr for any failure (the traceback only with --debug); the exit code."""
    if debug:
        import traceback

        traceback.print_exception(err)
    if isinstance(err, KeyboardInterrupt):
        print(f"jaforge {name}: interrupted", file=sys.stderr)
        return 130
    if isinstance(err, JaforgeError):
        print(f"jaforge {name}: {err}", file=sys.stderr)
        return err.exit_code
    if isinstance(err, MemoryError):
        print(f"jaforge {name}: out of memory; use a smaller batch, model or input", file=sys.stderr)
        return 1
    if isinstance(err, OSError) and err.filename:
        print(f"jaforge {name}: {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 1
    detail = str(err.args[0] if isinstance(err, KeyError) and err.args else err).splitlines()
    hint = "" if debug else "; run again with --debug for the traceback"
    print(f"jaforge {name}: internal error ({type(err).__name__}: {detail[0] if detail else ''})"
          f"{hint}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in ("-h", "--help"):
        _print_stages()
        return 0
    name, rest = argv[0], argv[1:]
    if name not in STAGES:
        print(f"jaforge: unknown stage '{name}'{did_you_mean(name, STAGES.names())} "
              f"known: {', '.join(STAGES.names())}", file=sys.stderr)
        return 2
    config_cls, run = STAGES.get(name).load()
    if any(a in ("-h", "--help") for a in rest):
        print(f"jaforge {name}: {STAGES.get(name).summary}\n\nconfig keys:")
        print("\n".join(describe(config_cls)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config_path, overrides = parse_overrides(rest)
        cfg = load_config(config_cls, config_path, overrides)
        result = run(cfg)
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 — the one place errors become messages
        return _fail(name, err, debug)
    _report(result)
    out = (getattr(getattr(cfg, "output", None), "dir", None) or getattr(cfg, "dir", None)
           or getattr(cfg, "out_dir", None) or getattr(cfg, "output_dir", None))
    if out:
        print(f"outputs: {Path(out).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
