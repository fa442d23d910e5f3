"""The code hash that decides code reruns: blind to comments, docstrings and formatting, sees a
changed constant, follows imports transitively and counts the packages an import runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swaplib.core.codehash import closure, code_hash, imported_modules, script_hash, source_digest
from workflow_support import REPO


def names(files: list[Path]) -> set[str]:
    return {file.relative_to(REPO / "src/swaplib").as_posix() for file in files}


def digest_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"m{abs(hash(text))}.py"
    path.write_text(text)
    return source_digest(path)


MODULE = '''"""A module."""

LIMIT = 3  # the limit


def scale(x):
    """Twice x."""
    return x * LIMIT
'''


def test_comments_docstrings_and_formatting_do_not_move_the_hash(tmp_path):
    same = [
        MODULE + "# a comment at the end\n",
        MODULE.replace('"""A module."""', '"""Another docstring, longer,\nover two lines."""'),
        MODULE.replace('    """Twice x."""\n', ""),
        MODULE.replace("return x * LIMIT", "return (\n        x\n        * LIMIT\n    )"),
        MODULE.replace("\n\n\ndef", "\n\ndef").replace("LIMIT = 3  # the limit", "LIMIT = (3)"),
        MODULE.replace('"""A module."""', "'''A module.'''"),
    ]
    original = digest_of(tmp_path, MODULE)
    assert [digest_of(tmp_path, text) for text in same] == [original] * len(same)


def test_a_changed_constant_or_statement_moves_the_hash(tmp_path):
    changed = [
        MODULE.replace("LIMIT = 3", "LIMIT = 4"),
        MODULE.replace("x * LIMIT", "x + LIMIT"),
        MODULE + "\nOTHER = 1\n",
        MODULE.replace('"""Twice x."""', '"Twice x."\n    LIMIT'),  # a statement where a docstring was
    ]
    digests = {digest_of(tmp_path, text) for text in [MODULE, *changed]}
    assert len(digests) == len(changed) + 1


def test_closure_follows_imports_transitively():
    sort = names(closure("sort.stage"))
    # sort.stage imports sort.scores, which imports extract.align; the table contract comes with it
    assert {"sort/stage.py", "sort/scores.py", "extract/align.py", "tables/faces.py", "core/atomic.py"} <= sort
    assert "extract/faces.py" not in sort  # sorting reads the table; it does not run the face extraction
    assert not {n for n in sort if n.startswith(("merge/", "train/", "quality/", "video/"))}
    with pytest.raises(ValueError, match="no_such_module"):
        closure("no_such_module")


def test_closure_counts_the_packages_an_import_runs():
    files = names(closure("sort.select"))
    assert {"__init__.py", "sort/__init__.py", "sort/select.py"} <= files


def test_a_script_hashes_what_it_imports():
    script = REPO / "workflow/scripts/faceset.py"
    modules = imported_modules(script)
    assert "core.jobs" in modules and any(name.startswith("sort") for name in modules)
    assert script_hash(script) == code_hash(*sorted(modules), extra=(script,))


def hashes_in(tree: Path, *modules: str) -> str:
    """code_hash(*modules) as computed by the copy of the library in `tree`."""
    code = f"from swaplib.core.codehash import code_hash; print(code_hash(*{modules!r}))"
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_an_edit_two_imports_away_moves_the_hash_and_a_comment_does_not(tmp_path):
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    align = tmp_path / "src/swaplib/extract/align.py"  # sort.stage imports sort.scores, which imports it
    assert "extract.align" not in imported_modules(REPO / "src/swaplib/sort/stage.py")
    before = hashes_in(tmp_path, "sort.stage")
    with align.open("a") as f:
        f.write("# a note\n")
    assert hashes_in(tmp_path, "sort.stage") == before
    with align.open("a") as f:
        f.write("PROBE = 1\n")
    assert hashes_in(tmp_path, "sort.stage") != before
