"""Every code block of README.md and the docs runs as written (our own extractor).

Rules, so that a reader copying a block gets what the page shows:

* a ```` ```python ```` block runs alone in a fresh interpreter, in an empty
  folder: it must import what it uses and build its own model and data, and it
  may use one host only;
* a ```` ```bash ```` block runs under ``bash -euo pipefail`` with this
  interpreter's ``bin`` folder first on ``PATH`` (so ``adali-compare`` and
  ``python`` are the tested ones);
* a block right after ``<!-- no-test: <reason> -->`` is not run; the reason is
  required (long trainings, installs, commands that rewrite the checkout);
* a ```` ```text ```` block right after ``<!-- expected-output -->`` is the exact
  standard output of the python block before it, and is compared.

Any other fenced block is refused, so nothing slips past untested.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
STORED_RUNS = ROOT / "docs" / "results"
"""Each run stored under docs/results/<name>/ may carry adali-compare's own
summary.md beside its results.json: an artefact, not a page (Sphinx skips it)."""
PAGES = [p for p in PAGES if "_build" not in p.parts and p.parent.parent != STORED_RUNS]

FENCE = re.compile(
    r"^```(?P<lang>[\w{}-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S
)
NO_TEST = re.compile(r"<!-- no-test: (?P<reason>[^>]*?) -->\s*$")
EXPECTED = "<!-- expected-output -->"
RUN = {"python", "bash"}
SHOWN = {"text"}
DIRECTIVES = re.compile(r"\{[\w-]+\}")
"""MyST directives (```` ```{toctree} ````) are markup, not code."""


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    skip_reason: str | None
    expected: str | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _marker_before(text: str, start: int) -> str:
    """The last non-blank line before ``start``."""
    lines = [ln for ln in text[:start].splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` with their markers resolved."""
    text = page.read_text()
    found: list[Block] = []
    for m in FENCE.finditer(text):
        lang = m["lang"]
        if DIRECTIVES.fullmatch(lang):
            continue
        line = text.count("\n", 0, m.start()) + 1
        before = _marker_before(text, m.start())
        if lang == "text" and before == EXPECTED:
            if not found or found[-1].lang != "python":
                raise AssertionError(f"{page}:{line}: expected output after no python")
            found[-1] = Block(**{**found[-1].__dict__, "expected": m["body"]})
            continue
        skip = NO_TEST.match(before)
        found.append(
            Block(
                page=page,
                line=line,
                lang=lang,
                code=m["body"],
                skip_reason=skip["reason"] if skip else None,
                expected=None,
            )
        )
    return found


ALL = [b for page in PAGES for b in blocks(page)]
RUNNABLE = [b for b in ALL if b.skip_reason is None]


def _marks(block: Block) -> list[pytest.MarkDecorator]:
    marks = []
    for host in ("snntorch", "spikingjelly"):
        if re.search(rf"^\s*(import|from) {host}\b", block.code, re.M):
            marks.append(getattr(pytest.mark, host))
    return marks


def test_pages_have_blocks_to_run():
    assert (ROOT / "README.md") in {b.page for b in RUNNABLE}
    langs = {b.lang for b in RUNNABLE}
    assert {"python", "bash"} <= langs


@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_block_is_runnable_or_says_why_not(block):
    assert block.lang in RUN | SHOWN, (
        f"{block.id}: a ```{block.lang} block; use python, bash or text "
        "(text only for expected output)"
    )
    if block.lang in SHOWN:
        raise AssertionError(f"{block.id}: a text block not marked as expected output")
    if block.skip_reason is not None:
        assert len(block.skip_reason.split()) >= 2, f"{block.id}: give a reason"


@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_block_uses_one_host(block):
    hosts = [m.name for m in _marks(block)]
    assert len(hosts) <= 1, f"{block.id} mixes hosts: {hosts}"


@pytest.mark.parametrize(
    "block",
    [pytest.param(b, marks=_marks(b), id=b.id) for b in RUNNABLE],
)
def test_block_runs(block, tmp_path):
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
    }
    if block.lang == "python":
        argv = [sys.executable, "-c", block.code]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", block.code]
    done = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{block.id} failed:\n{done.stderr[-3000:]}"
    if block.expected is not None:
        assert done.stdout == block.expected, f"{block.id}: output differs"


def test_readme_is_a_front_door():
    """Short, and no image by relative path (an index page cannot resolve it)."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)|<img[^>]*src=\"([^\"]+)\"", text)
    relative = [a or b for a, b in images if not (a or b).startswith("https://")]
    assert not relative, f"README images by relative path: {relative}"
