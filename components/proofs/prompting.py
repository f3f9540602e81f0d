"""Prompt templates and reply parsers shared by the language-model generation methods and the judge.

A template file holds a `[system]` section and a `[user]` section and uses
`string.Template` placeholders (`$question`, `$proof`, ...), so LaTeX braces
need no escaping; a literal dollar sign is written `$$`. Users edit the files
under `components/proofs/prompts/` or point the config at their own copies.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from components.errors import InputError
from components.llm.base import LLMError

PROMPT_DIR = Path(__file__).resolve().parent / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    """A system and a user template read from one file; `sha256` identifies the exact text used."""

    name: str
    system: Template
    user: Template
    sha256: str

    @classmethod
    def load(cls, path: str | Path) -> "PromptTemplate":
        """Read a template file; raise InputError when it is missing or lacks a section."""
        path = Path(path)
        if not path.exists():
            raise InputError("prompt template not found", path=path, hint=f"Copy one from {PROMPT_DIR} and edit it")
        text = path.read_text(encoding="utf-8")
        sections = re.split(r"^\[(system|user)\]\s*$", text, flags=re.MULTILINE)
        parts = dict(zip(sections[1::2], (body.strip("\n") for body in sections[2::2])))
        if "user" not in parts:
            raise InputError("prompt template has no [user] section", path=path,
                             hint="Start the user message with a line that reads [user]")
        return cls(path.stem, Template(parts.get("system", "")), Template(parts["user"]),
                   hashlib.sha256(text.encode("utf-8")).hexdigest())

    def render(self, **fields: Any) -> tuple[str, str]:
        """Return (system, user) with the fields filled in; raise InputError naming a placeholder left unfilled."""
        try:
            return self.system.substitute(fields), self.user.substitute(fields)
        except KeyError as exc:
            raise InputError(f"template '{self.name}' uses placeholder ${exc.args[0]}, which this method does not provide",
                             field=str(exc.args[0]), hint=f"Available placeholders: {', '.join(sorted(fields))}") from exc
        except ValueError as exc:
            raise InputError(f"template '{self.name}' is invalid: {exc}", hint="Write a literal dollar sign as $$") from exc


def default_template(name: str) -> Path:
    return PROMPT_DIR / f"{name}.txt"


def number_steps(steps: Sequence[str], masked: Sequence[int] = ()) -> str:
    """Format steps as "Step k: text" lines; steps whose 1-based number is in `masked` read [MASKED]."""
    return "\n".join(
        f"Step {number}: {'[MASKED]' if number in masked else step}" for number, step in enumerate(steps, start=1)
    )


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_STEP_LINE = re.compile(r"^\s*(?:step\s*)?(\d+)\s*[:.)]\s*(.+)$", re.IGNORECASE)


def parse_json_reply(text: str) -> dict[str, Any]:
    """Return the JSON object in a reply, allowing a code fence or prose around it; raise LLMError("unparseable")."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise LLMError("unparseable", f"reply contains no JSON object: {text[:160]!r}")
    try:
        value = json.loads(body[start : end + 1])
    except ValueError as exc:
        raise LLMError("unparseable", f"reply contains invalid JSON ({exc}): {text[:160]!r}") from exc
    if not isinstance(value, dict):
        raise LLMError("unparseable", f"reply JSON is not an object: {text[:160]!r}")
    return value


def parse_steps(text: str, expected: int | None = None) -> list[str]:
    """Read the `steps` list of a JSON reply, or else "Step k: ..." lines; check the count when `expected` is given."""
    try:
        raw = parse_json_reply(text).get("steps")
    except LLMError:
        raw = [match.group(2) for line in text.splitlines() if (match := _STEP_LINE.match(line))] or None
    if not isinstance(raw, list) or not raw:
        raise LLMError("unparseable", f"reply has no non-empty 'steps' list: {text[:160]!r}")
    steps = [str(step).strip() for step in raw]
    if any(not step for step in steps):
        raise LLMError("unparseable", "reply contains a blank step")
    if expected is not None and len(steps) != expected:
        raise LLMError("wrong_step_count", f"reply has {len(steps)} steps, {expected} were requested")
    return steps


def parse_step_numbers(value: Any, n_steps: int, field: str) -> list[int]:
    """Check a list of 1-based step numbers against the proof length."""
    if not isinstance(value, list) or not value:
        raise LLMError("unparseable", f"'{field}' must be a non-empty list of step numbers, got {value!r}")
    numbers = []
    for item in value:
        try:
            number = int(item)
        except (TypeError, ValueError) as exc:
            raise LLMError("unparseable", f"'{field}' holds {item!r}, which is not a step number") from exc
        if not 1 <= number <= n_steps:
            raise LLMError("step_out_of_range", f"'{field}' names step {number}, outside 1..{n_steps}")
        numbers.append(number)
    return sorted(set(numbers))
