"""The package's layout: one folder per stage, every module importing only downward.

A stage's code hash (swaplib.core.codehash) covers every module it imports, so an upward import
would make a stage rerun for a change in a stage below it in the pipeline's order, or worse, a
model retrain for a change in the report. The order is defined here, once.
"""

from __future__ import annotations

import pytest

from swaplib.core.codehash import PACKAGE_DIR, imported_modules, module_file, module_name

# Lowest first. A module may import from its own top-level package and from earlier layers only;
# packages in one layer do not import each other. "" is the root package (its version).
LAYERS = [
    ("",),
    ("core",),
    ("config",),  # every setting declared, torch-free: the workflow plans with it, the stages check with it
    ("tables",),
    ("extract", "video", "model"),
    ("sort",),
    ("train",),
    ("xseg",),  # trains with train's state folder; merge runs its model for the xseg-* masks
    ("merge",),
    ("quality",),  # measures merged frames
    ("report",),  # the report's pages: of every stage's outputs
    ("workfolder",),  # where a run's folder keeps curation sheets, label marks, STOP requests
    ("sheet", "status"),  # status reads every stage's outputs and serves only the command line
    ("one_pair",),  # `swaplib swap`: one pair through the whole workflow
    ("review",),  # `swaplib review`: the human steps in a browser
    ("cli",),
    ("__main__",),
]
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}
# Packages whose __init__ is light (a docstring, at most its own modules): importing any module of
# the package runs its __init__, which so joins that module's code hash.
LIGHT_PACKAGES = ("core", "config", "tables", "extract", "extract.detect", "sort", "merge", "xseg")


def top(name: str) -> str:
    return name.split(".")[0]


def modules():
    return sorted(module_name(path) or "" for path in PACKAGE_DIR.rglob("*.py"))


def test_every_package_has_a_layer():
    assert {top(name) for name in modules()} <= set(RANK), "add the new package to LAYERS"


def upward_imports(file) -> list[str]:
    """The modules `file` imports that are not below its own package in LAYERS."""
    name = module_name(file)
    return sorted(imported for imported in imported_modules(file)
                  if top(imported) != top(name) and RANK[top(imported)] >= RANK[top(name)])


@pytest.mark.parametrize("name", modules())
def test_imports_go_downward_only(name):
    upward = upward_imports(module_file(name))
    assert not upward, f"{name or 'swaplib'} imports {', '.join(upward)}: not below it in LAYERS"


@pytest.mark.parametrize("package", LIGHT_PACKAGES)
def test_package_inits_are_light(package):
    init = module_file(package)
    assert init.name == "__init__.py"
    foreign = sorted(m for m in imported_modules(init) if m != package and not m.startswith(package + "."))
    assert not foreign, f"{package}/__init__.py imports {', '.join(foreign)}"
    assert len(init.read_text().splitlines()) <= 30, f"{package}/__init__.py holds code; move it to a module"


def test_an_upward_import_is_seen(tmp_path, monkeypatch):
    """The check itself: a module of a lower layer importing a higher one is caught, also inside a function."""
    source = tmp_path / "swaplib" / "tables" / "bad.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from swaplib.merge import stage\n    return stage\n")
    monkeypatch.setattr("swaplib.core.codehash.PACKAGE_DIR", tmp_path / "swaplib")
    (tmp_path / "swaplib" / "merge").mkdir()
    (tmp_path / "swaplib" / "merge" / "stage.py").write_text("")
    assert upward_imports(source) == ["merge.stage"]
