"""The eval package's modules import each other without cycles and import jaforge modules only at
their tops; the command line itself imports no torch (`jaforge --help` stays fast)."""

import ast
import subprocess
import sys
from pathlib import Path

import jaforge.eval

PACKAGE = Path(jaforge.eval.__file__).parent
MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")


def jaforge_imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(module, at the top) of every `jaforge` import in a module."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaforge"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found += [(name, id(node) in top) for name in names]
        elif isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names if a.name.startswith("jaforge")]
    return found


def eval_dependencies(path: Path) -> set[str]:
    modules = {p.stem for p in MODULES}
    deps = set()
    for name, _ in jaforge_imports(ast.parse(path.read_text("utf-8"))):
        parts = name.split(".")
        if parts[:2] == ["jaforge", "eval"] and len(parts) > 2:
            deps |= {p for p in parts[2:4] if p in modules}
    return deps - {path.stem}


def test_jaforge_imports_sit_at_module_tops():
    inner = {p.name: [n for n, at_top in jaforge_imports(ast.parse(p.read_text("utf-8"))) if not at_top]
             for p in MODULES}
    assert not {name: found for name, found in inner.items() if found}


def test_no_import_cycles_between_eval_modules():
    graph = {p.stem: eval_dependencies(p) for p in MODULES}
    assert "scoring" not in graph["backends"]  # the old backends ↔ scoring cycle

    def visit(node, stack):
        assert node not in stack, " → ".join(stack + [node])
        for dep in graph[node]:
            visit(dep, stack + [node])

    for module in graph:
        visit(module, [])


def test_the_command_line_imports_no_torch():
    code = "import sys, jaforge.cli, jaforge.pipeline; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
