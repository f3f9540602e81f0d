"""Built-in bank of proof problems with reference proofs written for this project.

The bank is the problem source that needs no download. Each YAML file in the
`bank/` folder next to this module contains the problems of one topic, and the
file name without `.yaml` is the topic. The file is a list of entries with the keys
`id`, `question`, `steps` (the reference proof, one string per step) and
`difficulty` (easy, medium, hard or olympiad). Three optional keys describe the
proof for typed error injection: `key_steps` and `case_steps` list 1-based step
numbers (the steps that carry the main idea, and the steps that each handle one
case of a case split), and `conditions` lists hypothesis phrases that occur
verbatim in the question. They end up in `Problem.metadata`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from components.errors import InputError
from components.io import validation_to_input_error
from components.proofs.schema import Problem

BANK_DIR = Path(__file__).resolve().parent / "bank"
BANK_TOPICS: tuple[str, ...] = (
    "number_theory",
    "algebra",
    "inequalities",
    "combinatorics",
    "induction",
    "geometry",
)
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard", "olympiad")
SOURCE = "builtin"

REQUIRED_KEYS: tuple[str, ...] = ("id", "question", "steps", "difficulty")
STEP_NUMBER_KEYS: tuple[str, ...] = ("key_steps", "case_steps")
OPTIONAL_KEYS: tuple[str, ...] = (*STEP_NUMBER_KEYS, "conditions")


def load_bank(
    topics: list[str] | None = None, directory: str | Path | None = None
) -> list[Problem]:
    """Load the problems of `topics` (every topic when None), in topic order, then file order.

    `directory` is a folder of `<topic>.yaml` files in the bank format; without it
    the built-in bank is read. Problem ids must be unique across the files loaded.
    Raises InputError for an unknown topic and for an invalid entry; the message
    names the YAML file, the line, the field and the problem id.
    """
    folder, available = _bank_folder(directory)
    problems: list[Problem] = []
    first_file_of_id: dict[str, Path] = {}

    for topic in _select_topics(topics, available):
        path = folder / f"{topic}.yaml"
        for problem, entry in _read_topic_file(path, topic):
            earlier = first_file_of_id.get(problem.problem_id)
            if earlier is not None:
                raise entry.error(
                    "id", f"duplicate problem id, already defined in {earlier}"
                )
            first_file_of_id[problem.problem_id] = path
            problems.append(problem)
    return problems


@dataclass
class _EntryLocation:
    """Location of one bank entry (file, first line, line of each key) for error messages."""

    path: Path
    line: int | None
    field_lines: dict[str, int] = field(default_factory=dict)
    problem_id: str | None = None

    def error(self, field_name: str | None, message: str, hint: str | None = None) -> InputError:
        if self.problem_id is not None:
            message = f"problem {self.problem_id!r}: {message}"
        line = self.field_lines.get(field_name, self.line) if field_name else self.line
        return InputError(message, path=self.path, line=line, field=field_name, hint=hint)


def _bank_folder(directory: str | Path | None) -> tuple[Path, tuple[str, ...]]:
    """Return the folder to read and the topics it offers."""
    if directory is None:
        return BANK_DIR, BANK_TOPICS

    folder = Path(directory)
    if not folder.is_dir():
        raise InputError(
            "problem bank directory not found",
            path=folder,
            hint="Pass a folder that contains <topic>.yaml files",
        )
    topics = tuple(sorted(path.stem for path in folder.glob("*.yaml")))
    if not topics:
        raise InputError(
            "problem bank directory contains no .yaml files",
            path=folder,
            hint="Add one <topic>.yaml file per topic",
        )
    return folder, topics


def _select_topics(topics: list[str] | None, available: tuple[str, ...]) -> list[str]:
    if topics is None:
        return list(available)
    choices = ", ".join(available)
    if isinstance(topics, str):
        raise InputError(
            f"topics must be a list of topic names, got the string {topics!r}",
            field="topics",
            hint=f"Pass [{topics!r}]; topics: {choices}",
        )
    if not topics:
        raise InputError(
            "topics is an empty list", field="topics", hint=f"Pass None for every topic, or some of: {choices}"
        )

    selected: list[str] = []
    for topic in topics:
        if topic not in available:
            raise InputError(f"unknown topic {topic!r}", field="topics", hint=f"Choose from: {choices}")
        if topic not in selected:
            selected.append(topic)
    return selected


def _read_topic_file(path: Path, topic: str) -> list[tuple[Problem, _EntryLocation]]:
    text = path.read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"invalid YAML ({problem})", path=path, line=line) from exc

    if not isinstance(document, list) or not document:
        got = "an empty file" if document is None else f"{type(document).__name__}"
        raise InputError(
            f"expected a non-empty list of problem entries, got {got}",
            path=path,
            hint="Start each entry with '- id: ...'",
        )

    # safe_load drops positions, so compose the same text again to locate entries and keys.
    locations = _entry_locations(text, path)
    results = []
    for index, entry in enumerate(document):
        location = locations[index] if index < len(locations) else _EntryLocation(path, None)
        results.append((_build_problem(entry, index + 1, location, topic), location))
    return results


def _entry_locations(text: str, path: Path) -> list[_EntryLocation]:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.SequenceNode):
        return []
    locations = []
    for item in root.value:
        field_lines = {}
        if isinstance(item, yaml.MappingNode):
            for key_node, _ in item.value:
                if isinstance(key_node, yaml.ScalarNode):
                    field_lines[key_node.value] = key_node.start_mark.line + 1
        locations.append(_EntryLocation(path, item.start_mark.line + 1, field_lines))
    return locations


def _build_problem(entry: Any, number: int, location: _EntryLocation, topic: str) -> Problem:
    """Validate one YAML entry (the `number`-th in its file) and convert it into a Problem."""
    if not isinstance(entry, dict):
        raise location.error(
            None,
            f"entry {number} is a {type(entry).__name__}, expected a mapping with the keys "
            + ", ".join(REQUIRED_KEYS),
        )

    problem_id = entry.get("id")
    if not isinstance(problem_id, str) or not problem_id.strip():
        raise location.error(
            "id",
            f"entry {number} has a missing or empty id (got {problem_id!r})",
            hint="Give every entry a unique string id such as 'nt-001'",
        )
    location.problem_id = problem_id

    for key in entry:
        if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS:
            raise location.error(
                str(key),
                f"unknown key {key!r}",
                hint="Allowed keys: " + ", ".join((*REQUIRED_KEYS, *OPTIONAL_KEYS)),
            )
    for key in REQUIRED_KEYS:
        if key not in entry:
            raise location.error(key, f"missing required key {key!r}")

    question = _require_text(entry["question"], "question", location)
    steps = _require_steps(entry["steps"], location)
    difficulty = entry["difficulty"]
    if difficulty not in DIFFICULTIES:
        raise location.error(
            "difficulty",
            f"invalid difficulty {difficulty!r}",
            hint="Use one of: " + ", ".join(DIFFICULTIES),
        )

    metadata: dict[str, list[Any]] = {
        key: _require_step_numbers(entry.get(key), key, len(steps), location)
        for key in STEP_NUMBER_KEYS
    }
    metadata["conditions"] = _require_conditions(entry.get("conditions"), question, location)

    try:
        return Problem(
            problem_id=problem_id,
            question=question,
            reference_steps=steps,
            source=SOURCE,
            topic=topic,
            difficulty=difficulty,
            metadata=metadata,
        )
    except ValidationError as exc:
        raise validation_to_input_error(exc, path=location.path, line=location.line) from exc


def _require_text(value: Any, key: str, location: _EntryLocation) -> str:
    if not isinstance(value, str) or not value.strip():
        raise location.error(key, f"{key} must be a non-empty string, got {value!r:.80}")
    return value.strip()


def _require_steps(value: Any, location: _EntryLocation) -> list[str]:
    if not isinstance(value, list) or not value:
        raise location.error("steps", f"steps must be a non-empty list of strings, got {value!r:.80}")
    steps = []
    for number, step in enumerate(value, start=1):
        if not isinstance(step, str) or not step.strip():
            raise location.error("steps", f"step {number} must be a non-empty string, got {step!r:.80}")
        steps.append(step.strip())
    return steps


def _require_step_numbers(
    value: Any, key: str, step_count: int, location: _EntryLocation
) -> list[int]:
    """Return the 1-based step numbers in `value`; None (key absent) means no steps."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise location.error(key, f"{key} must be a list of step numbers, got {value!r:.80}")
    numbers: list[int] = []
    for number in value:
        # bool is a subclass of int, and `true` in YAML is never meant as step 1.
        if isinstance(number, bool) or not isinstance(number, int):
            raise location.error(key, f"{key} contains {number!r}, which is not a step number")
        if not 1 <= number <= step_count:
            raise location.error(
                key,
                f"{key} contains step {number}, outside 1..{step_count}",
                hint="Steps are numbered from 1",
            )
        if number in numbers:
            raise location.error(key, f"{key} lists step {number} twice")
        numbers.append(number)
    return numbers


def _require_conditions(value: Any, question: str, location: _EntryLocation) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise location.error("conditions", f"conditions must be a list of strings, got {value!r:.80}")
    conditions = []
    for condition in value:
        if not isinstance(condition, str) or not condition.strip():
            raise location.error("conditions", f"condition {condition!r} must be a non-empty string")
        if condition not in question:
            raise location.error(
                "conditions",
                f"condition {condition!r} does not occur in the question",
                hint="Copy the hypothesis phrase verbatim from the question",
            )
        conditions.append(condition)
    return conditions
