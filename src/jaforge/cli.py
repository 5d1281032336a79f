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

from jaforge import pipeline
from jaforge.config import ConfigError, describe, load_config
from jaforge.errors import JaforgeError
from jaforge.paths import check_input_paths
from jaforge.registry import did_you_mean
from jaforge.report import write_report
from jaforge.stage_result import StageResult
from jaforge.stages import STAGES

USAGE = "usage: jaforge <stage> [--config FILE.yaml] [--key.sub VALUE ...] [--debug]"
RUN_USAGE = "jaforge run RECIPE.yaml [--dry-run] [--key.sub VALUE ...] [--debug]"


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
    print(USAGE + "\n       " + RUN_USAGE + "\n\nstages:")
    for name in STAGES.names():
        print(f"  {name:<18} {STAGES.get(name).summary}")
    print(f"  {'run':<18} a pipeline: the stages of a recipe in order, finished ones skipped")
    print("\n`jaforge <stage> --help` lists that stage's config keys.")


def run_stage(name: str, rest: list[str]) -> int:
    """`jaforge <stage> …`: load the config, run the stage, print its summary."""
    stage = STAGES.get(name)
    config_cls = stage.config_class()
    if any(a in ("-h", "--help") for a in rest):
        print(f"jaforge {name}: {stage.summary}\n\nconfig keys:")
        print("\n".join(describe(config_cls)))
        return 0
    config_path, overrides = parse_overrides(rest)
    cfg = load_config(config_cls, config_path, overrides)
    check_input_paths(cfg, source=config_path or "the command line")
    result = stage.run(cfg)
    print(result.markdown())
    if result.output_dir:
        print(f"outputs: {Path(result.output_dir).resolve()}")
    return 0


def run_pipeline(rest: list[str]) -> int:
    """`jaforge run RECIPE [--dry-run] [--a.b value …]`."""
    if not rest or rest[0] in ("-h", "--help"):
        print(RUN_USAGE + "\n\n" + (pipeline.__doc__ or ""))
        return 0
    recipe, rest = rest[0], rest[1:]
    dry_run = "--dry-run" in rest
    config_path, overrides = parse_overrides([a for a in rest if a != "--dry-run"])
    if config_path is not None:
        raise ConfigError(f"'jaforge run' takes the recipe as its first argument; {RUN_USAGE}")
    plan = pipeline.load_recipe(recipe, overrides)
    if dry_run:
        print(pipeline.plan_table(plan))
        return 0
    results = pipeline.execute(plan, on_result=_print_stage_result)
    if plan.report:
        paths = write_report(plan, results)
        print(f"report: {paths['html'].resolve()}")
    print(f"outputs: {plan.output_dir.resolve()}")
    return 0


def _print_stage_result(name: str, result: StageResult, status: str) -> None:
    shown = "skipped: finished earlier with the same config and inputs" if status == "skip" else ""
    print(f"## {name}{' (' + shown + ')' if shown else ''}\n")
    if not shown:
        print(result.markdown())


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
    if name != "run" and name not in STAGES:
        print(f"jaforge: unknown stage '{name}'{did_you_mean(name, STAGES.names() + ['run'])} "
              f"known: {', '.join(STAGES.names())}, run", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_pipeline(rest) if name == "run" else run_stage(name, rest)
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 — the one place errors become messages
        return _fail(name, err, debug)


if __name__ == "__main__":
    sys.exit(main())
