"""Which library files a stage runs: the module and every swaplib module it imports.

The workflow declares these files as inputs of the rule that runs the stage, so editing
a module reruns exactly the rules whose code changed (and nothing that never imports it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _module_file(name: str) -> Path | None:
    """'merge' or 'model.df' -> its file in the package, or None when it is not ours."""
    base = PACKAGE_DIR.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(file: Path) -> str:
    parts = list(file.relative_to(PACKAGE_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(file: Path) -> set[str]:
    """Names (relative to the package) of the swaplib modules that `file` imports."""
    package = _module_name(file).rpartition(".")[0] if file.name != "__init__.py" else _module_name(file)
    names = set()
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y / from . import x
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "swaplib":
                base = node.module.partition(".")[2]
            else:
                continue
            names.add(base)
            names.update(f"{base}.{alias.name}".strip(".") for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == "swaplib")
    return {n for n in names if n}


def module_files(*modules: str) -> list[str]:
    """Sorted paths of `modules` and all swaplib modules they import, transitively."""
    seen: set[Path] = {PACKAGE_DIR / "__init__.py"}
    todo = [m for m in modules]
    while todo:
        file = _module_file(todo.pop())
        if file is None or file in seen:
            continue
        seen.add(file)
        todo.extend(_imported_modules(file))
    missing = [m for m in modules if _module_file(m) is None]
    if missing:
        raise ValueError(f"no swaplib module named {', '.join(missing)}")
    return sorted(str(f) for f in seen)
