"""The README and the stage pages of docs/: every page is linked from the README, every relative
link leads to a file, and each page's settings table is what the declarations make."""

from __future__ import annotations

import re

import pytest

from swaplib.config import docs
from swaplib.config.declare import Section, Setting
from workflow_support import REPO

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PAGES = sorted((REPO / "docs").glob("*.md"))


def test_every_page_is_linked_from_the_readme_and_every_link_leads_somewhere():
    readme = (REPO / "README.md").read_text()
    assert {f"docs/{page.name}" for page in PAGES} <= set(LINK.findall(readme))
    for page in [REPO / "README.md", *PAGES]:
        for target in LINK.findall(page.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")):
                assert (page.parent / target).exists(), f"{page.relative_to(REPO)}: link to {target} leads nowhere"


def test_the_settings_tables_are_what_the_declarations_make():
    assert docs.write(REPO, check=True) == [], "run: python -m swaplib.config"
    assert "<!-- settings: train -->" in (REPO / "docs/training.md").read_text()
    assert "<!-- settings: merge -->" in (REPO / "docs/merge.md").read_text()


def test_a_declared_setting_appears_in_its_page_s_table(tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs/stage.md"
    page.write_text("# A stage\n\n<!-- settings: stage -->\nold rows\n<!-- /settings -->\nafter\n")
    section = Section("stage", settings=(
        Setting("strength", 3, {"type": "integer", "minimum": 0, "maximum": 9}, "how hard it pulls"),
        Setting("every", 10, {"type": "integer", "minimum": 1}, "how often it saves", role="run"),
    ))
    monkeypatch.setattr(docs, "DECLARED", (section,))
    assert docs.write(tmp_path) == [page]
    text = page.read_text()
    assert "old rows" not in text and text.endswith("<!-- /settings -->\nafter\n")
    assert "| `stage.strength` | `3` | 0..9 | how hard it pulls | its stage and after |" in text
    assert "| `stage.every` | `10` | 1.. | how often it saves | nothing |" in text
    assert docs.write(tmp_path, check=True) == []

    page.write_text("<!-- settings: elsewhere -->\n<!-- /settings -->\n")
    with pytest.raises(ValueError, match="docs/stage.md: no declared section 'elsewhere'"):
        docs.write(tmp_path)


def test_the_sort_page_says_whose_algorithm_each_order_runs():
    """docs/curation.md's table of sort orders: every order once, with whose algorithm it runs
    as the order itself declares it (DFL's, after DFL's, faceswap's, after faceswap's, ours)."""
    from swaplib.sort.orders import ORDERS

    text = (REPO / "docs/curation.md").read_text()
    table = text[text.index("| order | whose | what it runs |"):].split("\n\n")[0].splitlines()[2:]
    whose = {}
    for row in table:
        name, said = (cell.strip() for cell in row.strip("|").split("|")[:2])
        whose[name.split("`")[1]] = said.split(" (")[0]
    assert whose == {name: order.algorithm for name, order in ORDERS.items()}
