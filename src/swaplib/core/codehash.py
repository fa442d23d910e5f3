"""What code a stage computes with, as a hash that only a change of substance moves.

A workflow rule passes `script_hash(its script)` (or `code_hash(entry module)`) as a param, so
Snakemake reruns the job exactly when that code changed. The hash covers the entry modules, their
parent packages and every swaplib module they import, transitively, each reduced to its syntax
tree without docstrings: comments, docstrings, blank lines, line breaks, quoting and a file's
modification time do not move it; a changed constant, name or statement does. Nothing here imports
the modules it hashes (planning a run must stay cheap and must not need torch).
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE = PACKAGE_DIR.name  # "swaplib"


def module_file(name: str) -> Path | None:
    """'merge' or 'model.df' (relative to the package) -> its file, or None when it is not ours."""
    base = PACKAGE_DIR.joinpath(*name.split(".")) if name else PACKAGE_DIR
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(file: Path) -> str:
    parts = list(file.relative_to(PACKAGE_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _parents(name: str) -> list[str]:
    """The packages that importing `name` runs first: 'a.b.c' -> ['', 'a', 'a.b']."""
    parts = name.split(".") if name else []
    return [".".join(parts[:i]) for i in range(len(parts))]


def imported_modules(file: Path, tree: ast.AST | None = None) -> set[str]:
    """Names (relative to the package) of the swaplib modules that `file` imports, anywhere in it.

    `file` may also lie outside the package (a workflow script): only its absolute imports count."""
    file = Path(file).resolve()
    if file.is_relative_to(PACKAGE_DIR):
        own = module_name(file)
        package = own if file.name == "__init__.py" else own.rpartition(".")[0]
    else:
        package = None
    names: set[str] = set()
    for node in ast.walk(tree or ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.ImportFrom):
            if node.level and package is None:
                continue
            if node.level:  # from .x import y, from .. import x
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([node.module] if node.module else []))
            elif node.module == PACKAGE or (node.module or "").startswith(PACKAGE + "."):
                base = node.module.partition(".")[2]
            else:
                continue
            names.add(base)
            # `from pkg import mod` imports a module; `from mod import name` a name (not a file)
            submodules = (f"{base}.{a.name}".strip(".") for a in node.names)
            names.update(name for name in submodules if module_file(name))
        elif isinstance(node, ast.Import):
            names.update(a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == PACKAGE)
    return {n for n in names if module_file(n) is not None}


def closure(*modules: str) -> list[Path]:
    """Sorted files of `modules`, their parent packages and every swaplib module they import, transitively."""
    missing = [m for m in modules if module_file(m) is None]
    if missing:
        raise ValueError(f"no {PACKAGE} module named {', '.join(missing)}")
    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        file = module_file(name)
        if file is None or file in seen:
            continue
        seen.add(file)
        todo.extend(_parents(name))
        todo.extend(imported_modules(file))
    return sorted(seen)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


LOG_CALLS = frozenset({"debug", "info", "warning", "error", "exception"})


def _is_log_call(node: ast.AST) -> bool:
    """A statement `log.info(...)`, `self.log.warning(...)`, `logger.debug(...)`: what a run says,
    not what it computes."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    call = node.value.func
    if not (isinstance(call, ast.Attribute) and call.attr in LOG_CALLS):
        return False
    owner = call.value
    name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
    return name in ("log", "logger")


def _computation_only(tree: ast.AST) -> ast.AST:
    """`tree` less what a run says: its log calls, and the messages of the errors it raises."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            node.exc.args, node.exc.keywords = [], []
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and any(_is_log_call(statement) for statement in body):
                setattr(node, name, [s for s in body if not _is_log_call(s)] or [ast.Pass()])
    return tree


def substance(source: str, computation_only: bool = False) -> str:
    """Hash of a Python source's syntax tree without docstrings (computation_only: nor its log
    calls and error messages)."""
    tree = _strip_docstrings(ast.parse(source))
    if computation_only:
        tree = _computation_only(tree)
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


@cache
def _file_digest(path: Path, mtime_ns: int, size: int, computation_only: bool) -> str:
    """One file's substance (cached per version of the file)."""
    return substance(path.read_text(), computation_only)


def source_digest(path: str | Path, computation_only: bool = False) -> str:
    """Hash of one Python file's substance: its syntax tree without docstrings (computation_only:
    nor its log calls and error messages)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _file_digest(path, stat.st_mtime_ns, stat.st_size, computation_only)


def code_hash(*modules: str, extra: tuple[str | Path, ...] = (), leave_out: tuple[str, ...] = (),
              computation_only: bool = False) -> str:
    """One hash of what `modules` compute with (see the module docstring), plus `extra` Python files
    (a workflow script, say), less the modules of the closure named in `leave_out` and, with
    `computation_only`, less every log call and error message. 16 hex digits: a param that reads
    well in `snakemake --summary`."""
    digest = hashlib.sha256()
    for file in closure(*modules):
        if module_name(file) not in leave_out:
            digest.update(f"{module_name(file)}:{source_digest(file, computation_only)}\n".encode())
    for file in extra:
        digest.update(f"{Path(file).name}:{source_digest(file, computation_only)}\n".encode())
    return digest.hexdigest()[:16]


def script_hash(script: str | Path) -> str:
    """code_hash of what a script runs: the script itself and every swaplib module it imports (a
    workflow rule's code, named once: by the script's own import lines)."""
    return code_hash(*sorted(imported_modules(Path(script))), extra=(script,))
