"""The organism as a Hugging Face chat-model directory, for OpenAI-compatible servers.

``transformers serve DIR`` (and vLLM, ...) need a chat template; the organism has none because it is
prompted with raw text. This writes a copy of its ``save_pretrained`` directory with the plainest
template (the messages' contents concatenated), so the whole ``tl-reasoning interpret --explainer llm``
pipeline can be tried, and is tested, against a real local server. Its "explanations" are nonsense:
it is an arithmetic model. ``python -m tl_reasoning.organism.chat DIR`` does the same from a shell.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "export_chat_model"]

CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"


def export_chat_model(out_dir: str | os.PathLike[str], name: str = "organism") -> Path:
    """Copy organism model ``name`` to ``out_dir`` with a chat template; returns the directory."""
    from tl_reasoning.organism import model_dir

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; pass a new directory")
    shutil.copytree(model_dir(name), out, dirs_exist_ok=True)
    (out / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return out


if __name__ == "__main__":  # pragma: no cover - exercised through docs/interpret.md
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tl_reasoning.organism.chat OUT_DIR")
    sys.stdout.write(f"{export_chat_model(sys.argv[1])}\n")
