"""Reading the examples out of the README and docs/: shared by test_doc_examples and make image-test."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]


def sections(path: Path) -> dict[str, str]:
    """The text under each `## ` heading (and the top of the file under "")."""
    parts = re.split(r"(?m)^## ", path.read_text())
    return {"": parts[0], **{part.split("\n", 1)[0]: part for part in parts[1:]}}


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def is_container_example(block: str) -> bool:
    return bool(re.search(r"^(docker|podman|make image)\b", block, re.M))


def quick_start() -> tuple[str, str]:
    """The README's quick start in a second terminal: its settings, then its calls."""
    [_make_run, settings, *calls] = blocks(sections(README)["Quick start"], "sh")
    return settings, "\n".join(calls)


def json_values(printed: str) -> list:
    """The JSON documents in what a script printed (curl's answers follow each other unseparated)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(printed):
        if printed[at] in "{[":
            try:
                value, at = decoder.raw_decode(printed, at)
                values.append(value)
                continue
            except json.JSONDecodeError:
                pass
        at += 1
    return values


def wallets(order: dict) -> list[dict]:
    return [wallet for line in order["items"] for wallet in line["wallets"]]
