"""The import graph reads plainly: no cycles, jaforge imports at the top of modules, and no stage
reaching into another stage's internals (private names, or modules other than the stage's public
surface: its package root and its `config` module)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "jaforge"
STAGES = {"corpus", "tokenizer", "model", "train", "explore", "sft", "merge", "eval", "use", "report"}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def imports(tree: ast.Module, known: set[str]) -> list[tuple[str, list[str], bool]]:
    """(imported jaforge module, names, inside a function) for every jaforge import of a module."""
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaforge"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((sub, [], id(node) in inner) if sub in known else (node.module, [alias.name], id(node) in inner))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], id(node) in inner) for a in node.names if a.name.startswith("jaforge")]
    return out


def package(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_no_import_cycles():
    mods = modules()
    graph = defaultdict(set)
    for name, tree in mods.items():
        for target, _, _ in imports(tree, set(mods)):
            if target in mods and not (name.startswith(target + ".") or target == name):
                graph[name].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(mods):
        if node not in state:
            visit(node)


def test_jaforge_imports_sit_at_the_top_of_modules():
    mods = modules()
    hidden = [f"{name} → {target}" for name, tree in mods.items()
              for target, _, inside in imports(tree, set(mods)) if inside]
    assert not hidden, "imports inside functions: " + "; ".join(hidden)


def test_no_private_names_across_packages():
    mods = modules()
    private = [f"{name} → {target}.{n}" for name, tree in mods.items()
               for target, names, _ in imports(tree, set(mods))
               for n in names if n.startswith("_") and package(target) != package(name)]
    private += [f"{name} → {target}" for name, tree in mods.items() for target, _, _ in imports(tree, set(mods))
                if target.split(".")[-1].startswith("_") and package(target) != package(name)]
    assert not private, "; ".join(private)


# Which stage packages each stage builds on: downward only (STYLE.md, "Who may import whom").
# Everything else a stage imports is shared plumbing (config, errors, io, paths, rundir, …).
BUILDS_ON = {
    "corpus": set(), "tokenizer": set(), "model": set(), "report": set(),
    "train": {"model"},
    "eval": {"model", "corpus"},          # corpus: the parallel-pair format of the translation tasks
    "sft": {"train", "model", "eval"},
    "explore": {"train", "sft", "model", "tokenizer", "eval"},
    "merge": {"sft", "eval", "model"},
    "use": {"eval", "model"},
}
ORCHESTRATORS = {"cli", "pipeline", "stages"}


def test_stages_build_on_lower_stages_only():
    mods = modules()
    wrong = set()
    for name, tree in mods.items():
        source = package(name)
        if source not in BUILDS_ON:
            continue
        for target, _, _ in imports(tree, set(mods)):
            destination = package(target)
            if destination in ORCHESTRATORS or (destination in BUILDS_ON and destination != source
                                                and destination not in BUILDS_ON[source]):
                wrong.add(f"{name} → {target}")
    assert not wrong, "; ".join(sorted(wrong))
