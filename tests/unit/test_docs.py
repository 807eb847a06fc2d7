"""The documentation stays usable from a clone: the README stays short, every relative link leads to a file
in the repository, and no document or comment sends a reader outside the project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
# `[text](target)` with the target up to a space or the closing parenthesis; images too.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A pointer to the product contract the project was written from, which a clone does not have.
OUTSIDE = re.compile(r"\.\./shared|shared/spec|(?:billing|api|monigo-wire|infra|style)\.md ?§")
README_MAX_LINES = 200


def _relative_links(document: Path) -> list[str]:
    """The link targets outside code (a code span may hold `[x](y)` that is no link) and off the web."""
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", document.read_text(), flags=re.S))
    targets = LINK.findall(prose)
    return [t for t in targets if not re.match(r"^[a-z]+:", t) and not t.startswith("#")]


def test_readme_reads_in_five_minutes() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file(document: Path) -> None:
    def leads_to_a_file(target: str) -> bool:
        path = (document.parent / target.split("#")[0]).resolve()
        return path.is_relative_to(ROOT) and path.exists()  # a clone holds nothing outside the repository

    broken = [t for t in _relative_links(document) if not leads_to_a_file(t)]
    assert broken == [], f"{document.relative_to(ROOT)} links to missing files: {broken}"


def _project_texts() -> list[Path]:
    texts = [*DOCUMENTS, *(ROOT / "deploy").rglob("*.md"), *(ROOT / "bench").rglob("*.md")]
    for folder in ("shared", "services", "bench"):
        texts += [p for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts]
    return texts


def test_no_document_or_comment_sends_the_reader_outside_the_repository() -> None:
    outside = [f"{p.relative_to(ROOT)}:{n}" for p in _project_texts()
               for n, line in enumerate(p.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert outside == [], f"point these at docs/ instead: {outside}"


def test_the_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    document = tmp_path / "x.md"
    document.write_text("[ok](x.md) [gone](missing.md#part) [web](https://example.com) [here](#top) `[a](b)`\n"
                        "```\n[c](d)\n```\n")
    assert _relative_links(document) == ["x.md", "missing.md#part"]
