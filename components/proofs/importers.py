"""Importers of public proof data sets into `Problem` and `Triplet` records.

Formats, by the name that `detect_format` returns:

- "opc": the Open Proof Corpus (INSAIT, Hugging Face `insait-institute/open-proof-corpus`),
  a parquet file of LLM-written olympiad proofs, each labelled correct or incorrect by
  expert humans. The problem statement and the proof sit inside the judge prompt
  `prompt[0]["content"]`, after the headings `### Problem Statement:` and
  `### Model Solution:`. The proof runs to the end of the prompt, and it may contain
  Markdown headings of its own, so it is not cut at the next heading.
- "imo-proofbench": IMO-ProofBench from IMO-Bench (Google DeepMind, GitHub
  `google-deepmind/superhuman`, `imobench/proofbench*.csv`), a CSV of proof problems with
  a reference solution, grading guidelines, category, level and source.
- "prmbench": PRMBench (Hugging Face `ssmisya/PRMBench`), JSONL files named `p1_<type>.jsonl`.
  Each record contains a correct step-by-step solution of a PRM800K phase-1 test problem
  (`original_process`) and a copy with an injected error (`modified_process`,
  `error_steps`, `classification`, `reason`).
- "triplets-jsonl" and "problems-jsonl": this project's own records, one
  `Triplet.model_dump_json()` or `Problem.model_dump_json()` per line.

Every importer rejects a malformed record with an InputError that names the file, the
1-based line (the data row for CSV and parquet files) and the field.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet
from pydantic import ValidationError

from components.errors import InputError
from components.io import iter_jsonl, require_file, validation_to_input_error
from components.proofs.schema import ErrorType, GenerationMethod, Problem, Triplet, stable_id
from components.proofs.steps import split_steps, strip_step_number

logger = logging.getLogger(__name__)

SUPPORTED_FORMATS = ("opc", "prmbench", "imo-proofbench", "triplets-jsonl", "problems-jsonl")
TRIPLET_FORMATS = ("opc", "prmbench", "triplets-jsonl")
PROBLEM_FORMATS = ("opc", "imo-proofbench", "problems-jsonl")

_FORMAT_HINT = (
    "Supported formats: opc (Open Proof Corpus .parquet), prmbench (PRMBench .jsonl or a directory "
    "of p1_*.jsonl files), imo-proofbench (IMO-ProofBench .csv), triplets-jsonl and problems-jsonl "
    "(this project's records, .jsonl)"
)

IMO_PROOFBENCH_COLUMNS = (
    "Problem ID",
    "Problem",
    "Solution",
    "Grading guidelines",
    "Category",
    "Level",
    "Short Answer",
    "Source",
)
_IMO_PROOFBENCH_REQUIRED_CELLS = ("Problem ID", "Problem", "Solution")

_OPC_COLUMNS = ("problem_id", "model_id", "prompt", "reward_model", "metadata")
_OPC_PROBLEM_HEADING = "### Problem Statement:"
_OPC_SOLUTION_HEADING = "### Model Solution:"

# PRMBench `classification` values and the project's error types.
PRMBENCH_ERROR_TYPES = {
    "circular": ErrorType.CIRCULAR_REASONING,
    "confidence": ErrorType.UNJUSTIFIED_CLAIM,
    "counterfactual": ErrorType.COUNTERFACTUAL,
    "deception": ErrorType.DECEPTION,
    "missing_condition": ErrorType.DROPPED_CONDITION,
    "step_contradiction": ErrorType.STEP_CONTRADICTION,
}
_PRMBENCH_FIELDS = (
    "idx",
    "original_question",
    "modified_question",
    "original_process",
    "modified_process",
    "error_steps",
    "classification",
)


# ---------------------------------------------------------------------------
# Format detection and dispatch


def detect_format(path: str | Path) -> str:
    """Return the format of `path`, one of SUPPORTED_FORMATS.

    The file extension narrows the choice and the columns or the first record decide
    it. A directory is PRMBench when it contains `p1_*.jsonl` files. Raises InputError
    when the path is missing or the format is not recognized.
    """
    target = Path(path)
    if not target.exists():
        raise InputError("input path not found", path=target, hint="Check the path")

    if target.is_dir():
        if any(target.glob("p1_*.jsonl")):
            return "prmbench"
        raise _unknown_format(target, "the directory contains no p1_*.jsonl files")

    suffix = target.suffix.lower()
    if suffix == ".parquet":
        columns = set(_parquet_columns(target))
        if {"prompt", "reward_model"} <= columns:
            return "opc"
        raise _unknown_format(
            target, f"parquet columns {sorted(columns)} match no supported format"
        )
    if suffix == ".csv":
        header = set(_csv_header(target))
        if {"Problem ID", "Problem", "Solution"} <= header:
            return "imo-proofbench"
        raise _unknown_format(target, f"CSV columns {sorted(header)} match no supported format")
    if suffix == ".jsonl":
        first = next(iter_jsonl(target), None)
        if first is None:
            raise _unknown_format(target, "the file contains no records")
        keys = set(first[1])
        if {"original_process", "modified_process"} & keys:
            return "prmbench"
        if "triplet_id" in keys or "label" in keys:
            return "triplets-jsonl"
        if "problem_id" in keys and "question" in keys:
            return "problems-jsonl"
        raise _unknown_format(
            target, f"the first record's keys {sorted(keys)} match no supported format"
        )
    raise _unknown_format(target, f"the extension '{target.suffix}' matches no supported format")


def load_triplets(path: str | Path, format: str = "auto") -> list[Triplet]:
    """Load triplets from a file in any TRIPLET_FORMATS; "auto" detects the format."""
    loaders: dict[str, Callable[[str | Path], list[Triplet]]] = {
        "opc": load_opc,
        "prmbench": load_prmbench,
        "triplets-jsonl": load_triplets_jsonl,
    }
    chosen = _resolve_format(path, format)
    if chosen not in loaders:
        raise InputError(
            f"format '{chosen}' contains problems, not triplets",
            path=path,
            hint=f"Load it with load_problems, or give a file in {', '.join(TRIPLET_FORMATS)}",
        )
    return loaders[chosen](path)


def load_problems(path: str | Path, format: str = "auto") -> list[Problem]:
    """Load problems from a file in any PROBLEM_FORMATS; "auto" detects the format."""
    loaders: dict[str, Callable[[str | Path], list[Problem]]] = {
        "opc": load_opc_problems,
        "imo-proofbench": load_imo_proofbench,
        "problems-jsonl": load_problems_jsonl,
    }
    chosen = _resolve_format(path, format)
    if chosen not in loaders:
        raise InputError(
            f"format '{chosen}' contains triplets, not problems",
            path=path,
            hint=f"Load it with load_triplets, or give a file in {', '.join(PROBLEM_FORMATS)}",
        )
    return loaders[chosen](path)


def _resolve_format(path: str | Path, format: str) -> str:
    if not Path(path).exists():
        raise InputError("input path not found", path=path, hint="Check the path")
    if format == "auto":
        return detect_format(path)
    if format not in SUPPORTED_FORMATS:
        raise InputError(
            f"unknown format '{format}'", field="format", hint=f"{_FORMAT_HINT}, or auto"
        )
    return format


def _unknown_format(path: Path, reason: str) -> InputError:
    return InputError(f"unrecognized data format: {reason}", path=path, hint=_FORMAT_HINT)


# ---------------------------------------------------------------------------
# IMO-ProofBench (CSV)


def load_imo_proofbench(path: str | Path) -> list[Problem]:
    """Load IMO-ProofBench problems, with the reference solution split into steps.

    The InputError of a bad cell has `line` set to the 1-based data row (the header is
    not counted), which differs from the physical line because cells span lines.
    """
    file = require_file(path, "IMO-ProofBench CSV file")
    problems: list[Problem] = []
    first_row_of_id: dict[str, int] = {}
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            _require_columns(file, reader.fieldnames or [], IMO_PROOFBENCH_COLUMNS)
            for row_number, row in enumerate(reader, start=1):
                problem = _imo_proofbench_problem(file, row_number, row, reader.line_num)
                if problem.problem_id in first_row_of_id:
                    raise InputError(
                        f"duplicate Problem ID '{problem.problem_id}' in data row {row_number}, "
                        f"first seen in data row {first_row_of_id[problem.problem_id]}",
                        path=file,
                        line=row_number,
                        field="Problem ID",
                        hint="Give each problem its own ID",
                    )
                first_row_of_id[problem.problem_id] = row_number
                problems.append(problem)
    except csv.Error as exc:
        raise InputError(f"invalid CSV ({exc})", path=file) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"file is not UTF-8 text ({exc.reason})", path=file) from exc

    logger.info("Read %d problems from IMO-ProofBench file %s", len(problems), file)
    return problems


def _require_columns(file: Path, header: Sequence[str], required: Sequence[str]) -> None:
    for column in required:
        if column not in header:
            raise InputError(
                f"missing column '{column}'",
                path=file,
                field=column,
                hint=(
                    f"The header must contain {', '.join(required)}, "
                    f"but it contains {', '.join(header) or 'nothing'}"
                ),
            )


def _imo_proofbench_problem(
    file: Path, row_number: int, row: dict[Any, Any], line_num: int
) -> Problem:
    """Build a Problem from one CSV record that ends on physical line `line_num`."""
    where = f"data row {row_number}, ending on physical line {line_num}"
    if None in row:
        raise InputError(
            f"{where} has more cells than the header has columns", path=file, line=row_number
        )
    cells = {column: (row.get(column) or "").strip() for column in IMO_PROOFBENCH_COLUMNS}
    for column in _IMO_PROOFBENCH_REQUIRED_CELLS:
        if not cells[column]:
            raise InputError(
                f"empty '{column}' cell in {where}",
                path=file,
                line=row_number,
                field=column,
                hint=f"Fill in the {column}, or remove the row",
            )

    try:
        return Problem(
            problem_id=cells["Problem ID"],
            question=cells["Problem"],
            reference_steps=_split_located(cells["Solution"], file, row_number, "Solution"),
            source="imo-proofbench",
            topic=_topic(cells["Category"]),
            difficulty=cells["Level"] or None,
            metadata={
                "problem_source": cells["Source"],
                "grading_guidelines": cells["Grading guidelines"],
                "short_answer": cells["Short Answer"],
            },
        )
    except ValidationError as exc:
        raise validation_to_input_error(exc, path=file, line=row_number) from exc


# ---------------------------------------------------------------------------
# Open Proof Corpus (parquet)


def load_opc(path: str | Path) -> list[Triplet]:
    """Load Open Proof Corpus proofs as imported triplets labelled by the human judges.

    Each row gives one triplet with the steps of the model's proof. The location of
    errors is unknown, so `error_type` is None and `error_steps` is empty. The triplet
    id hashes the problem id, the model id and the 0-based row index. The InputError of
    a bad row has `line` set to the 1-based row number.
    """
    file, frame = _read_opc(path)
    triplets: list[Triplet] = []
    for row_index, row in enumerate(frame.to_dict("records")):
        triplets.append(_opc_triplet(file, row_index, row))
    labels = [triplet.label for triplet in triplets]
    logger.info(
        "Read %d triplets (%d correct) from Open Proof Corpus file %s",
        len(triplets),
        labels.count("correct"),
        file,
    )
    return triplets


def load_opc_problems(path: str | Path) -> list[Problem]:
    """Load one Problem per Open Proof Corpus problem id, in order of first appearance.

    The statement comes from the problem's first row. The reference steps come from the
    first human-written entry of `solutions`, and are empty when there is none.
    """
    file, frame = _read_opc(path)
    problems: dict[str, Problem] = {}
    for row_index, row in enumerate(frame.to_dict("records")):
        line = row_index + 1
        problem_id = _opc_string(file, line, row, "problem_id")
        if problem_id in problems:
            continue
        question, _ = _opc_question_and_proof(file, line, row)
        details = _opc_details(row.get("metadata"))
        human_solution = _opc_human_solution(row.get("solutions"))
        reference_steps = []
        if human_solution is not None:
            reference_steps = _split_located(human_solution, file, line, "solutions")
        try:
            problems[problem_id] = Problem(
                problem_id=problem_id,
                question=question,
                reference_steps=reference_steps,
                source="opc",
                topic=details["topic"],
                difficulty=details["difficulty"],
                metadata={
                    "competition": details["competition"],
                    "year": details["year"],
                    "level": details["level"],
                    "problem_source": details["problem_source"],
                },
            )
        except ValidationError as exc:
            raise validation_to_input_error(exc, path=file, line=line) from exc

    logger.info(
        "Read %d problems from %d rows of Open Proof Corpus file %s",
        len(problems),
        len(frame),
        file,
    )
    return list(problems.values())


def _read_opc(path: str | Path) -> tuple[Path, pd.DataFrame]:
    file = require_file(path, "Open Proof Corpus parquet file")
    try:
        frame = pd.read_parquet(file)
    except (pyarrow.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"cannot read the file as parquet ({exc})", path=file) from exc
    _require_columns(file, list(frame.columns), _OPC_COLUMNS)
    return file, frame


def _opc_triplet(file: Path, row_index: int, row: dict[str, Any]) -> Triplet:
    line = row_index + 1
    problem_id = _opc_string(file, line, row, "problem_id")
    model_id = _opc_string(file, line, row, "model_id")
    question, proof = _opc_question_and_proof(file, line, row)

    reward_model = row.get("reward_model")
    label = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    if label not in ("correct", "incorrect"):
        raise InputError(
            f"expected 'correct' or 'incorrect', got {label!r}",
            path=file,
            line=line,
            field="reward_model.ground_truth",
        )

    details = _opc_details(row.get("metadata"))
    try:
        return Triplet(
            triplet_id=stable_id("opc", problem_id, model_id, row_index),
            problem_id=problem_id,
            question=question,
            steps=_split_located(proof, file, line, "prompt"),
            source="opc",
            method=GenerationMethod.IMPORTED,
            generator=model_id,
            label=label,
            difficulty=details["difficulty"],
            topic=details["topic"],
            metadata={
                "competition": details["competition"],
                "year": details["year"],
                "problem_id": problem_id,
                "judge_issue_categories": _opc_issue_categories(row.get("llm_judgment")),
            },
        )
    except ValidationError as exc:
        raise validation_to_input_error(exc, path=file, line=line) from exc


def _opc_string(file: Path, line: int, row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"expected a non-empty string, got {value!r:.80}", path=file, line=line, field=column
        )
    return value.strip()


def _opc_question_and_proof(file: Path, line: int, row: dict[str, Any]) -> tuple[str, str]:
    """Cut the problem statement and the model's proof out of the judge prompt."""
    prompt = row.get("prompt")
    first = prompt[0] if isinstance(prompt, (list, np.ndarray)) and len(prompt) else None
    content = first.get("content") if isinstance(first, dict) else None
    if not isinstance(content, str):
        raise InputError(
            "expected a list of chat messages whose first one has a string 'content'",
            path=file,
            line=line,
            field="prompt",
        )

    _, found_problem, after_problem = content.partition(_OPC_PROBLEM_HEADING)
    question, found_solution, proof = after_problem.partition(_OPC_SOLUTION_HEADING)
    if not found_problem:
        raise InputError(
            f"the judge prompt has no '{_OPC_PROBLEM_HEADING}' section",
            path=file,
            line=line,
            field="prompt",
        )
    if not found_solution:
        raise InputError(
            f"the judge prompt has no '{_OPC_SOLUTION_HEADING}' section after the statement",
            path=file,
            line=line,
            field="prompt",
        )
    if not question.strip():
        raise InputError("the problem statement is empty", path=file, line=line, field="prompt")
    if not proof.strip():
        raise InputError("the model solution is empty", path=file, line=line, field="prompt")
    return question.strip(), proof.strip()


def _opc_details(metadata: Any) -> dict[str, Any]:
    """Return topic, difficulty, competition, year, level and source from an OPC row's metadata."""
    metadata = metadata if isinstance(metadata, dict) else {}
    difficulty = _plain(metadata.get("difficulty"))
    return {
        "topic": _topic(metadata.get("category")),
        "difficulty": None if difficulty is None else str(difficulty),
        "competition": _plain(metadata.get("competition")),
        "year": _plain(metadata.get("year")),
        "level": _plain(metadata.get("level")),
        "problem_source": _plain(metadata.get("source")),
    }


def _opc_issue_categories(judgment: Any) -> list[str] | None:
    """Return the issue categories of the LLM judgment, or None for a row without one."""
    if not isinstance(judgment, dict):
        return None
    result = judgment.get("result")
    issues = result.get("issues") if isinstance(result, dict) else None
    if issues is None:
        return None
    return [
        str(issue["category"])
        for issue in issues
        if isinstance(issue, dict) and issue.get("category")
    ]


def _opc_human_solution(solutions: Any) -> str | None:
    """Return the text of the first non-blank solution whose author is "Human", if any."""
    if solutions is None or isinstance(solutions, float):
        return None
    for solution in solutions:
        if not isinstance(solution, dict):
            continue
        text = solution.get("solution")
        is_human = str(solution.get("author", "")).lower() == "human"
        if is_human and isinstance(text, str) and text.strip():
            return text
    return None


# ---------------------------------------------------------------------------
# PRMBench (JSONL)


def load_prmbench(path: str | Path) -> list[Triplet]:
    """Load PRMBench records from a JSONL file or a directory of `p1_*.jsonl` files.

    Each record gives two triplets of the same problem. The correct one has the
    original question and steps. The incorrect one has the modified question and steps
    with the erroneous step numbers (from 1) and the error type. Blank steps are
    dropped and the error steps renumbered to match. Error steps beyond the last step
    of the modified process, which PRMBench contains, are dropped with a warning and
    kept in `metadata["error_steps_out_of_range"]`.
    """
    target = Path(path)
    if target.is_dir():
        files = sorted(target.glob("p1_*.jsonl"))
        if not files:
            raise InputError(
                "the directory contains no p1_*.jsonl files",
                path=target,
                hint="Give a PRMBench JSONL file or a directory that contains p1_*.jsonl files",
            )
    else:
        files = [require_file(target, "PRMBench JSONL file")]

    triplets: list[Triplet] = []
    records = 0
    for file in files:
        lines_out_of_range = []
        for line, record in iter_jsonl(file):
            records += 1
            pair = _prmbench_pair(file, line, record)
            if "error_steps_out_of_range" in pair[1].metadata:
                lines_out_of_range.append(line)
            triplets.extend(pair)
        if lines_out_of_range:
            logger.warning(
                "%s: %d records have error steps beyond the last modified step; those steps were "
                "dropped (lines %s)",
                file,
                len(lines_out_of_range),
                ", ".join(map(str, lines_out_of_range)),
            )

    logger.info(
        "Read %d triplets from %d PRMBench records in %d file(s) under %s",
        len(triplets),
        records,
        len(files),
        target,
    )
    return triplets


def _prmbench_pair(file: Path, line: int, record: dict[str, Any]) -> tuple[Triplet, Triplet]:
    """Build the (correct, incorrect) triplets of one PRMBench record."""
    for field in _PRMBENCH_FIELDS:
        if record.get(field) is None:
            raise InputError("missing field", path=file, line=line, field=field)

    idx = str(record["idx"])
    original_question = _prmbench_text(file, line, record, "original_question")
    modified_question = _prmbench_text(file, line, record, "modified_question")
    classification = record["classification"]
    if classification not in PRMBENCH_ERROR_TYPES:
        raise InputError(
            f"unknown classification {classification!r}",
            path=file,
            line=line,
            field="classification",
            hint=f"Known classifications: {', '.join(PRMBENCH_ERROR_TYPES)}",
        )
    reason = record.get("reason") or ""
    if not isinstance(reason, str):
        raise InputError(
            f"expected a string, got {type(reason).__name__}", path=file, line=line, field="reason"
        )

    original_steps, _ = _prmbench_steps(file, line, record, "original_process")
    modified_steps, renumbered = _prmbench_steps(file, line, record, "modified_process")
    step_count = len(_prmbench_list(file, line, record, "modified_process"))
    error_steps, out_of_range = _prmbench_error_steps(file, line, record, renumbered, step_count)

    problem_id = stable_id("prmbench", original_question)
    metadata: dict[str, Any] = {"idx": idx, "classification": classification, "reason": reason}
    try:
        # The original solution is a PRM800K phase-1 solution; PRMBench wrote the modified one.
        correct = Triplet(
            triplet_id=stable_id("prmbench", idx, classification, "original"),
            problem_id=problem_id,
            question=original_question,
            steps=original_steps,
            source="prmbench",
            method=GenerationMethod.IMPORTED,
            generator="prm800k",
            label="correct",
            metadata={**metadata, "variant": "original"},
        )
        incorrect_metadata = {**metadata, "variant": "modified"}
        if out_of_range:
            incorrect_metadata["error_steps_out_of_range"] = out_of_range
        incorrect = Triplet(
            triplet_id=stable_id("prmbench", idx, classification, "modified"),
            problem_id=problem_id,
            question=modified_question,
            steps=modified_steps,
            source="prmbench",
            method=GenerationMethod.IMPORTED,
            generator="prmbench",
            error_type=PRMBENCH_ERROR_TYPES[classification],
            error_steps=error_steps,
            label="incorrect",
            metadata=incorrect_metadata,
        )
    except ValidationError as exc:
        raise validation_to_input_error(exc, path=file, line=line) from exc
    return correct, incorrect


def _prmbench_text(file: Path, line: int, record: dict[str, Any], field: str) -> str:
    value = record[field]
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"expected a non-empty string, got {value!r:.80}", path=file, line=line, field=field
        )
    return value.strip()


def _prmbench_list(file: Path, line: int, record: dict[str, Any], field: str) -> list[Any]:
    """Return a list field, decoding it first when it is a JSON-encoded string."""
    value = record[field]
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_constant=_reject_constant)
        except ValueError as exc:
            raise InputError(
                f"invalid JSON in a JSON-encoded list ({exc})", path=file, line=line, field=field
            ) from exc
    if not isinstance(value, list):
        raise InputError(
            f"expected a list, got {type(value).__name__}", path=file, line=line, field=field
        )
    return value


def _prmbench_steps(
    file: Path, line: int, record: dict[str, Any], field: str
) -> tuple[list[str], dict[int, int]]:
    """Return the non-blank steps without their numbers, and a map from old to new step numbers."""
    steps: list[str] = []
    renumbered: dict[int, int] = {}
    for number, raw in enumerate(_prmbench_list(file, line, record, field), start=1):
        if not isinstance(raw, str):
            raise InputError(
                f"step {number} is a {type(raw).__name__}, expected a string",
                path=file,
                line=line,
                field=field,
            )
        text = strip_step_number(raw.strip()).strip()
        if text:
            steps.append(text)
            renumbered[number] = len(steps)
    if not steps:
        raise InputError("the process has no non-blank step", path=file, line=line, field=field)
    return steps, renumbered


def _prmbench_error_steps(
    file: Path, line: int, record: dict[str, Any], renumbered: dict[int, int], step_count: int
) -> tuple[list[int], list[int]]:
    """Return the error steps renumbered after blank steps, and those past `step_count`."""
    renumbered_errors: set[int] = set()
    out_of_range: list[int] = []
    for value in _prmbench_list(file, line, record, "error_steps"):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(
                f"expected positive step numbers, got {value!r}",
                path=file,
                line=line,
                field="error_steps",
            )
        if value > step_count:
            out_of_range.append(value)
        elif value in renumbered:
            renumbered_errors.add(renumbered[value])
        # An error step that points at a blank step has nothing left to mark.
    return sorted(renumbered_errors), out_of_range


# ---------------------------------------------------------------------------
# This project's records (JSONL)


def load_triplets_jsonl(path: str | Path) -> list[Triplet]:
    """Load Triplet records, one JSON object per line.

    A record may give its proof as a `proof` string in place of `steps`; it is split
    with `split_steps`. Duplicate triplet ids are rejected.
    """
    file = require_file(path, "triplets JSONL file")
    triplets: list[Triplet] = []
    first_line_of_id: dict[str, int] = {}
    for line, record in iter_jsonl(file):
        record = _steps_from_proof(file, line, record, "steps")
        try:
            triplet = Triplet.model_validate(record)
        except ValidationError as exc:
            raise validation_to_input_error(exc, path=file, line=line) from exc
        _reject_duplicate(file, line, "triplet_id", triplet.triplet_id, first_line_of_id)
        triplets.append(triplet)
    logger.info("Read %d triplets from %s", len(triplets), file)
    return triplets


def load_problems_jsonl(path: str | Path) -> list[Problem]:
    """Load Problem records, one JSON object per line.

    A record may give its reference proof as a `proof` string in place of
    `reference_steps`; it is split with `split_steps`. Duplicate problem ids are rejected.
    """
    file = require_file(path, "problems JSONL file")
    problems: list[Problem] = []
    first_line_of_id: dict[str, int] = {}
    for line, record in iter_jsonl(file):
        record = _steps_from_proof(file, line, record, "reference_steps")
        try:
            problem = Problem.model_validate(record)
        except ValidationError as exc:
            raise validation_to_input_error(exc, path=file, line=line) from exc
        _reject_duplicate(file, line, "problem_id", problem.problem_id, first_line_of_id)
        problems.append(problem)
    logger.info("Read %d problems from %s", len(problems), file)
    return problems


def _steps_from_proof(
    file: Path, line: int, record: dict[str, Any], steps_field: str
) -> dict[str, Any]:
    """Replace a `proof` string in the record with its steps under `steps_field`."""
    if "proof" not in record:
        return record
    if steps_field in record:
        raise InputError(
            f"the record has both 'proof' and '{steps_field}'",
            path=file,
            line=line,
            field="proof",
            hint=f"Give the proof either as text in 'proof' or as a list in '{steps_field}'",
        )
    proof = record["proof"]
    if not isinstance(proof, str):
        raise InputError(
            f"expected a string, got {type(proof).__name__}", path=file, line=line, field="proof"
        )
    record = {key: value for key, value in record.items() if key != "proof"}
    record[steps_field] = _split_located(proof, file, line, "proof")
    return record


def _reject_duplicate(
    file: Path, line: int, field: str, value: str, first_line: dict[str, int]
) -> None:
    if value in first_line:
        raise InputError(
            f"duplicate {field} '{value}', first seen on line {first_line[value]}",
            path=file,
            line=line,
            field=field,
            hint=f"Give each record its own {field}",
        )
    first_line[value] = line


# ---------------------------------------------------------------------------
# Shared helpers


def _split_located(text: str, file: Path, line: int, field: str) -> list[str]:
    """Split proof text into steps; an InputError names the file, line and field."""
    try:
        return split_steps(text)
    except InputError as exc:
        raise InputError(str(exc), path=file, line=line, field=field) from exc


def _topic(category: Any) -> str | None:
    """Return the first non-blank category, lowercased with runs of spaces as underscores."""
    if category is None or isinstance(category, float):
        return None
    candidates = [category] if isinstance(category, str) else list(category)
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return "_".join(candidate.lower().split())
    return None


def _plain(value: Any) -> Any:
    """Return `value` with NumPy scalars and arrays as Python values and NaN as None."""
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _parquet_columns(file: Path) -> list[str]:
    try:
        return list(pyarrow.parquet.read_schema(file).names)
    except (pyarrow.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the file as parquet ({exc})", path=file) from exc


def _csv_header(file: Path) -> list[str]:
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the CSV header ({exc})", path=file) from exc


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid number")
