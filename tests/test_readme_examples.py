"""README.md and docs/*.md run as written: every ```bash and ```python block, in order, in one folder.

The blocks run one after another in a single temporary working folder shared by all files (README.md
first, then docs/*.md in alphabetical order), so what the README's score example writes
(``runs/organism``) is what every later example reads. Python blocks of one file share one namespace
and run in this process (one import of torch, not one per block); bash blocks run under
``bash -euo pipefail`` with this interpreter's ``bin`` folder first on ``PATH`` (the ``make install``
virtualenv, as the README asks).

A block is not run only when the line above it (blank lines aside) is a marker naming why:

- ``<!-- readme-test: skip (GPU) -->`` (or network, NDIF key, make: ..., any reason in parentheses);
- ``<!-- readme-test: file NAME -->``: the block is the content of file NAME, written there, not run.

Sizes: the documented commands run with smaller size options (:data:`SHRINK`: ``--limit``,
``--max-docs``, ``--max-new-tokens``, ``limit=``, ...) so the test takes a few minutes on one thread;
``TL_REASONING_README_FULL=1`` runs the documented sizes.
"""

from __future__ import annotations

import linecache
import os
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|file)\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
#: Size options made smaller for the test (documented flag values only; the commands stay the README's).
SHRINK = [
    (r"--max-docs \d+", "--max-docs 40"),
    (r"--limit \d+", "--limit 2"),
    (r"--max-new-tokens \d+", "--max-new-tokens 48"),
    (r"--max-gen-toks \d+", "--max-gen-toks 48"),
    (r"--word-ban-runs \d+", "--word-ban-runs 1"),
    (r"\blimit=\d+", "limit=2"),
    (r"\bmax_new_tokens=\d+", "max_new_tokens=48"),
    (r"\bmax_tokens=[\d_]+", "max_tokens=20_000"),
    (r"\bmax_docs=\d+", "max_docs=40"),
    (r"\bn_runs=\d+", "n_runs=1"),
    (r"--n-prompts \d+", "--n-prompts 2"),
    (r"\bn_prompts=\d+", "n_prompts=2"),
]
TAIL = 4000


@dataclass
class Block:
    source: str
    line: int
    lang: str
    text: str
    action: str = "run"  # run | skip | file
    arg: str = ""

    def where(self) -> str:
        return f"{self.source}:{self.line} ({self.lang})"


def extract_blocks(markdown: str, source: str = "<markdown>") -> list[Block]:
    """The ```bash / ```python blocks of ``markdown`` with the marker above each, in order."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    previous = ""  # last non-blank line outside a block
    for n, line in enumerate(lines, 1):
        if "```" in line and not line.startswith("```"):
            raise ValueError(f"{source}:{n}: a code fence must start its line, or the blocks after it are misread")
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        start, lang = i, fence.group(1)
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        if lang in ("bash", "python"):
            block = Block(source, start + 1, lang, "\n".join(lines[start + 1:i]) + "\n")
            marker = MARKER.search(previous)
            if marker:
                block.action, block.arg = marker.group(1), marker.group(2).strip()
                if block.action == "skip" and not re.fullmatch(r"\(.+\)", block.arg):
                    raise ValueError(f"{block.where()}: a skip marker must name why, e.g. (GPU)")
                if block.action == "file" and not block.arg:
                    raise ValueError(f"{block.where()}: a file marker must name the file")
            blocks.append(block)
        previous = ""
        i += 1
    return blocks


def shrink(text: str) -> str:
    if os.environ.get("TL_REASONING_README_FULL") == "1":
        return text
    for pattern, replacement in SHRINK:
        text = re.sub(pattern, replacement, text)
    return text


@dataclass
class Workspace:
    path: Path
    namespaces: dict[str, dict] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("OMP_NUM_THREADS", "1")
        env["HF_HUB_OFFLINE"] = "1"
        env["WANDB_MODE"] = "disabled"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.path), env.get("PYTHONPATH")) if p)
        return env

    def run(self, block: Block) -> None:
        if block.action == "skip":
            return
        text = shrink(block.text)
        if block.action == "file":
            target = self.path / block.arg
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
            if block.lang == "python":
                compile(block.text, block.arg, "exec")
            return
        if block.lang == "bash":
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=self.path, env=self.env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
            if proc.returncode != 0:
                raise AssertionError(f"{block.where()} failed (exit {proc.returncode}). Block as run:\n{text}\n"
                                     f"--- output (tail) ---\n{proc.stdout[-TAIL:]}")
            return
        namespace = self.namespaces.setdefault(block.source, {"__name__": "__readme__"})
        cwd, path = Path.cwd(), list(sys.path)
        os.chdir(self.path)
        sys.path.insert(0, str(self.path))
        filename = f"<{block.where()}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)  # nnsight reads traces back
        try:
            exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - the documented example
        except BaseException:
            raise AssertionError(f"{block.where()} failed. Block as run:\n{text}\n--- traceback (tail) ---\n"
                                 f"{traceback.format_exc()[-TAIL:]}") from None
        finally:
            os.chdir(cwd)
            sys.path[:] = path

    def run_file(self, name: str) -> None:
        for block in extract_blocks((ROOT / name).read_text(encoding="utf-8"), name):
            start = time.perf_counter()
            self.run(block)
            print(f"{block.where()}: {block.action} {time.perf_counter() - start:.1f} s")  # noqa: T201 (pytest -s)
        self.done.append(name)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("readme"))


def test_markers_parse_and_a_failing_block_fails(tmp_path):
    text = ("<!-- readme-test: skip (GPU) -->\n```bash\nexit 3\n```\n\n```toml\nx = 1\n```\n"
            "<!-- readme-test: file a/m.py -->\n\n```python\nX = 1\n```\n```bash\nfalse\n```\n")
    blocks = extract_blocks(text)
    assert [(b.lang, b.action, b.arg) for b in blocks] == [("bash", "skip", "(GPU)"), ("python", "file", "a/m.py"),
                                                          ("bash", "run", "")]
    ws = Workspace(tmp_path)
    ws.run(blocks[0])
    ws.run(blocks[1])
    assert (tmp_path / "a" / "m.py").read_text() == "X = 1\n"
    with pytest.raises(AssertionError, match="failed"):
        ws.run(blocks[2])
    with pytest.raises(ValueError, match="name why"):
        extract_blocks("<!-- readme-test: skip -->\n```bash\ntrue\n```\n")
    with pytest.raises(ValueError, match="must start its line"):
        extract_blocks("text. ```python\nx = 1\n```\n")


def test_shrink_changes_only_size_values():
    assert shrink("tl-reasoning x --limit 50 --max-docs 400 --out runs/a") == (
        "tl-reasoning x --limit 2 --max-docs 40 --out runs/a")
    assert shrink("evaluate(m, items, c, max_new_tokens=320)") == "evaluate(m, items, c, max_new_tokens=48)"


@pytest.mark.parametrize("name", FILES)
def test_examples_run_as_written(name, workspace):
    for earlier in FILES[:FILES.index(name)]:
        if earlier not in workspace.done:  # run alone (-k): the earlier files set up what this one reads
            workspace.run_file(earlier)
    workspace.run_file(name)
