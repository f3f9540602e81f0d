"""Tests of the proof data importers on small fixtures and on the real data sets when present."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from components.errors import InputError
from components.proofs.importers import (
    SUPPORTED_FORMATS,
    detect_format,
    load_imo_proofbench,
    load_opc,
    load_opc_problems,
    load_prmbench,
    load_problems,
    load_problems_jsonl,
    load_triplets,
    load_triplets_jsonl,
)
from components.proofs.schema import ErrorType, GenerationMethod, Problem, Triplet, stable_id


@pytest.fixture(scope="module")
def shared_data() -> Path:
    """The folder of real data sets beside the project, or REPROLAB_SHARED_DATA."""
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    root = Path(os.environ.get("REPROLAB_SHARED_DATA") or default)
    if not root.is_dir():
        pytest.skip(
            f"real data folder {root} is absent; set REPROLAB_SHARED_DATA to run these tests"
        )
    return root


def _real_file(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.exists():
        pytest.skip(f"real data file {path} is absent")
    return path


def assert_located(error: InputError, path: Path, line: int | None, field: str | None) -> None:
    """Check that the message names the file, the line and the field."""
    message = str(error)
    assert re.search(re.escape(path.name), message), message
    if line is not None:
        assert re.search(rf"\bline {line}\b", message), message
    if field is not None:
        assert re.search(rf"field '{re.escape(field)}'", message), message


def _write_jsonl(path: Path, records: list[Any]) -> Path:
    lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# IMO-ProofBench


IMO_HEADER = ["Problem ID", "Problem", "Solution", "Grading guidelines", "Category", "Level", "Short Answer", "Source"]


def _imo_row(problem_id: str, **cells: str) -> list[str]:
    values = {
        "Problem ID": problem_id,
        "Problem": "Prove that the sum of two odd integers is even.",
        "Solution": "Write the integers as 2a + 1 and 2b + 1.\n\nTheir sum is 2(a + b + 1), which is even.",
        "Grading guidelines": "(Partial) 1. Wrote both integers.",
        "Category": "Number theory",
        "Level": "IMO-easy",
        "Short Answer": "even",
        "Source": "folklore",
    }
    values.update(cells)
    return [values[column] for column in IMO_HEADER]


def _write_imo(path: Path, rows: list[list[str]], header: list[str] = IMO_HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_imo_proofbench_loads_problems(tmp_path: Path) -> None:
    file = _write_imo(
        tmp_path / "proofbench.csv", [_imo_row("PB-1"), _imo_row("PB-2", Category="Combinatorics")]
    )

    problems = load_imo_proofbench(file)

    assert [problem.problem_id for problem in problems] == ["PB-1", "PB-2"]
    first = problems[0]
    assert first.source == "imo-proofbench"
    assert first.topic == "number_theory"
    assert problems[1].topic == "combinatorics"
    assert first.difficulty == "IMO-easy"
    assert first.reference_steps == [
        "Write the integers as 2a + 1 and 2b + 1.",
        "Their sum is 2(a + b + 1), which is even.",
    ]
    assert first.metadata == {
        "problem_source": "folklore",
        "grading_guidelines": "(Partial) 1. Wrote both integers.",
        "short_answer": "even",
    }


def test_imo_proofbench_missing_column(tmp_path: Path) -> None:
    header = [column for column in IMO_HEADER if column != "Solution"]
    file = _write_imo(tmp_path / "no_solution.csv", [], header=header)

    with pytest.raises(InputError, match=r"missing column 'Solution'") as caught:
        load_imo_proofbench(file)

    assert_located(caught.value, file, None, "Solution")


@pytest.mark.parametrize("column", ["Problem", "Solution"])
def test_imo_proofbench_empty_cell(tmp_path: Path, column: str) -> None:
    file = _write_imo(
        tmp_path / "empty_cell.csv", [_imo_row("PB-1"), _imo_row("PB-2", **{column: "  "})]
    )

    with pytest.raises(InputError, match=rf"empty '{column}' cell in data row 2") as caught:
        load_imo_proofbench(file)

    assert_located(caught.value, file, 2, column)


def test_imo_proofbench_duplicate_id(tmp_path: Path) -> None:
    file = _write_imo(tmp_path / "duplicate.csv", [_imo_row("PB-1"), _imo_row("PB-1")])

    with pytest.raises(InputError, match="duplicate Problem ID 'PB-1'") as caught:
        load_imo_proofbench(file)

    assert_located(caught.value, file, 2, "Problem ID")


def test_imo_proofbench_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"absent\.csv: IMO-ProofBench CSV file not found"):
        load_imo_proofbench(tmp_path / "absent.csv")


# ---------------------------------------------------------------------------
# Open Proof Corpus


OPC_PROMPT = (
    "You are judging the correctness of an LLM-generated proof.\n\n### Input:\n\nText.\n\n"
    "### Scoring instructions\n\nEnd with \\boxed{{correct}}.\n\n"
    "### Problem Statement:\n{question}\n\n### Model Solution:\n{proof}"
)


def _opc_row(problem_id: str, model_id: str, label: str, **changes: Any) -> dict[str, Any]:
    question = changes.pop("question", f"Prove statement {problem_id} for all n.")
    proof = changes.pop(
        "proof",
        "### Step 1: Reduce\nLet n be a positive integer and write n = 2k + r.\n"
        "### Step 2: Conclude\nThen the claim follows from the case r = 0.",
    )
    row = {
        "problem_id": problem_id,
        "model_id": model_id,
        "prompt": [{"content": OPC_PROMPT.format(question=question, proof=proof), "role": "user"}],
        "reward_model": {"ground_truth": label, "style": "rule"},
        "metadata": {"category": [" Number Theory"], "competition": "imo", "difficulty": 7.5, "year": 2015},
        "solutions": [{"author": "Human", "solution": "We use induction on n.\n\nThe base case n = 1 is clear."}],
        "llm_judgment": {"result": {"issues": [{"category": "Overgeneralization"}], "summary": "ok"}},
    }
    row.update(changes)
    return row


def _write_opc(path: Path, rows: list[dict[str, Any]]) -> Path:
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_opc_loads_triplets(tmp_path: Path) -> None:
    file = _write_opc(
        tmp_path / "opc.parquet",
        [
            _opc_row("P1", "model-a", "correct"),
            _opc_row("P1", "model-b", "incorrect", llm_judgment=None),
        ],
    )

    triplets = load_opc(file)

    assert [triplet.label for triplet in triplets] == ["correct", "incorrect"]
    first = triplets[0]
    assert first.triplet_id == stable_id("opc", "P1", "model-a", 0)
    assert first.problem_id == "P1"
    assert first.question == "Prove statement P1 for all n."
    assert first.steps == [
        "Reduce\nLet n be a positive integer and write n = 2k + r.",
        "Conclude\nThen the claim follows from the case r = 0.",
    ]
    assert first.method == GenerationMethod.IMPORTED
    assert first.generator == "model-a"
    assert first.source == "opc"
    assert first.difficulty == "7.5"
    assert first.topic == "number_theory"
    assert first.error_type is None
    assert first.error_steps == []
    assert first.metadata == {
        "competition": "imo",
        "year": 2015,
        "problem_id": "P1",
        "judge_issue_categories": ["Overgeneralization"],
    }
    assert triplets[1].metadata["judge_issue_categories"] is None


def test_opc_problems_one_per_problem(tmp_path: Path) -> None:
    file = _write_opc(
        tmp_path / "opc.parquet",
        [
            _opc_row("P1", "model-a", "correct"),
            _opc_row("P2", "model-a", "incorrect", solutions=[]),
            _opc_row("P1", "model-b", "incorrect"),
        ],
    )

    problems = load_opc_problems(file)

    assert [problem.problem_id for problem in problems] == ["P1", "P2"]
    assert problems[0].reference_steps == ["We use induction on n.", "The base case n = 1 is clear."]
    assert problems[1].reference_steps == []
    assert problems[0].topic == "number_theory"


def test_opc_missing_solution_section(tmp_path: Path) -> None:
    bad = _opc_row("P2", "model-a", "correct")
    bad["prompt"] = [{"content": "### Problem Statement:\nProve it.\n\nNo solution here.", "role": "user"}]
    file = _write_opc(tmp_path / "no_section.parquet", [_opc_row("P1", "model-a", "correct"), bad])

    with pytest.raises(InputError, match=r"no '### Model Solution:' section") as caught:
        load_opc(file)

    assert_located(caught.value, file, 2, "prompt")


def test_opc_empty_proof(tmp_path: Path) -> None:
    file = _write_opc(
        tmp_path / "empty_proof.parquet", [_opc_row("P1", "model-a", "correct", proof="  \n ")]
    )

    with pytest.raises(InputError, match="model solution is empty") as caught:
        load_opc(file)

    assert_located(caught.value, file, 1, "prompt")


def test_opc_invalid_label(tmp_path: Path) -> None:
    file = _write_opc(tmp_path / "bad_label.parquet", [_opc_row("P1", "model-a", "partial")])

    with pytest.raises(
        InputError, match="expected 'correct' or 'incorrect', got 'partial'"
    ) as caught:
        load_opc(file)

    assert_located(caught.value, file, 1, "reward_model.ground_truth")


def test_opc_missing_column(tmp_path: Path) -> None:
    row = _opc_row("P1", "model-a", "correct")
    del row["model_id"]
    file = _write_opc(tmp_path / "no_model.parquet", [row])

    with pytest.raises(InputError, match="missing column 'model_id'") as caught:
        load_opc(file)

    assert_located(caught.value, file, None, "model_id")


def test_opc_not_parquet(tmp_path: Path) -> None:
    file = tmp_path / "broken.parquet"
    file.write_text("not a parquet file", encoding="utf-8")

    with pytest.raises(InputError, match=r"broken\.parquet: cannot read the file as parquet"):
        load_opc(file)


# ---------------------------------------------------------------------------
# PRMBench


def _prm_record(**changes: Any) -> dict[str, Any]:
    record = {
        "original_question": "What is 2 + 3 times 4?",
        "modified_question": "What is 2 + 3 times 4?",
        "original_process": ["1. First compute 3 times 4 = 12.", "2. Then add 2 to get 14.", "3. The answer is 14."],
        "modified_process": ["1. First compute 2 + 3 = 5.", "2. Then multiply by 4 to get 20.", "3. The answer is 20."],
        "modified_steps": [1, 2, 3],
        "error_steps": [1],
        "reason": "Step 1 ignores the order of operations.",
        "idx": "prm_test_p1_0",
        "question": "What is $2 + 3 \\times 4$?",
        "classification": "counterfactual",
    }
    record.update(changes)
    return record


def test_prmbench_record_gives_two_triplets(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "p1_counterfactual.jsonl", [_prm_record()])

    correct, incorrect = load_prmbench(file)

    assert correct.label == "correct"
    assert correct.steps == ["First compute 3 times 4 = 12.", "Then add 2 to get 14.", "The answer is 14."]
    assert correct.error_steps == []
    assert incorrect.label == "incorrect"
    assert incorrect.steps[0] == "First compute 2 + 3 = 5."
    assert incorrect.error_steps == [1]
    assert incorrect.error_type == ErrorType.COUNTERFACTUAL
    assert correct.problem_id == incorrect.problem_id == stable_id(
        "prmbench", "What is 2 + 3 times 4?"
    )
    assert correct.triplet_id != incorrect.triplet_id
    assert incorrect.method == GenerationMethod.IMPORTED
    assert incorrect.metadata["idx"] == "prm_test_p1_0"
    assert incorrect.metadata["classification"] == "counterfactual"
    assert incorrect.metadata["reason"] == "Step 1 ignores the order of operations."


def test_prmbench_questions_per_variant(tmp_path: Path) -> None:
    record = _prm_record(
        modified_question="What is 2 + 3 times 5?", classification="missing_condition"
    )
    file = _write_jsonl(tmp_path / "p1_missing_condition.jsonl", [record])

    correct, incorrect = load_prmbench(file)

    assert correct.question == "What is 2 + 3 times 4?"
    assert incorrect.question == "What is 2 + 3 times 5?"
    assert incorrect.problem_id == correct.problem_id
    assert incorrect.error_type == ErrorType.DROPPED_CONDITION


@pytest.mark.parametrize(
    ("classification", "error_type"),
    [
        ("circular", ErrorType.CIRCULAR_REASONING),
        ("confidence", ErrorType.UNJUSTIFIED_CLAIM),
        ("counterfactual", ErrorType.COUNTERFACTUAL),
        ("deception", ErrorType.DECEPTION),
        ("missing_condition", ErrorType.DROPPED_CONDITION),
        ("step_contradiction", ErrorType.STEP_CONTRADICTION),
    ],
)
def test_prmbench_error_type_mapping(
    tmp_path: Path, classification: str, error_type: ErrorType
) -> None:
    file = _write_jsonl(tmp_path / "p1_x.jsonl", [_prm_record(classification=classification)])

    assert load_prmbench(file)[1].error_type == error_type


def test_prmbench_json_encoded_lists(tmp_path: Path) -> None:
    plain = _prm_record()
    encoded = {
        **plain,
        "original_process": json.dumps(plain["original_process"]),
        "modified_process": json.dumps(plain["modified_process"]),
        "error_steps": json.dumps(plain["error_steps"]),
    }
    file = _write_jsonl(tmp_path / "p1_counterfactual.jsonl", [encoded])

    correct, incorrect = load_prmbench(file)

    assert correct.steps[0] == "First compute 3 times 4 = 12."
    assert incorrect.error_steps == [1]


def test_prmbench_blank_step_renumbers_errors(tmp_path: Path) -> None:
    record = _prm_record(
        modified_process=["Compute 2 + 3 = 5 first.", "", "Multiply by 4 to get 20.", "Step 4. The answer is 20."],
        error_steps=[3, 4],
    )
    file = _write_jsonl(tmp_path / "p1_counterfactual.jsonl", [record])

    incorrect = load_prmbench(file)[1]

    assert incorrect.steps == ["Compute 2 + 3 = 5 first.", "Multiply by 4 to get 20.", "The answer is 20."]
    assert incorrect.error_steps == [2, 3]


def test_prmbench_out_of_range_error_steps_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = _write_jsonl(tmp_path / "p1_counterfactual.jsonl", [_prm_record(error_steps=[2, 4, 5])])

    with caplog.at_level(logging.WARNING, logger="components.proofs.importers"):
        incorrect = load_prmbench(file)[1]

    assert incorrect.error_steps == [2]
    assert incorrect.metadata["error_steps_out_of_range"] == [4, 5]
    assert "error steps beyond the last modified step" in caplog.text


@pytest.mark.parametrize(
    "field", ["original_process", "modified_process", "error_steps", "classification"]
)
def test_prmbench_missing_field(tmp_path: Path, field: str) -> None:
    incomplete = _prm_record()
    del incomplete[field]
    file = _write_jsonl(tmp_path / "p1_missing.jsonl", [_prm_record(), incomplete])

    with pytest.raises(InputError, match="missing field") as caught:
        load_prmbench(file)

    assert_located(caught.value, file, 2, field)


def test_prmbench_unknown_classification(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "p1_odd.jsonl", [_prm_record(classification="typo")])

    with pytest.raises(InputError, match=r"unknown classification 'typo'.*circular") as caught:
        load_prmbench(file)

    assert_located(caught.value, file, 1, "classification")


def test_prmbench_malformed_json_line(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "p1_broken.jsonl", [_prm_record(), '{"idx": "prm_test_p1_1", '])

    with pytest.raises(InputError, match="invalid JSON") as caught:
        load_prmbench(file)

    assert_located(caught.value, file, 2, None)


def test_prmbench_invalid_encoded_list(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "p1_encoded.jsonl", [_prm_record(error_steps="[1, ")])

    with pytest.raises(InputError, match="invalid JSON in a JSON-encoded list") as caught:
        load_prmbench(file)

    assert_located(caught.value, file, 1, "error_steps")


def test_prmbench_non_positive_error_step(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "p1_zero.jsonl", [_prm_record(error_steps=[0])])

    with pytest.raises(InputError, match="expected positive step numbers, got 0") as caught:
        load_prmbench(file)

    assert_located(caught.value, file, 1, "error_steps")


def test_prmbench_directory(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "p1_circular.jsonl", [_prm_record(classification="circular")])
    _write_jsonl(tmp_path / "p1_deception.jsonl", [_prm_record(classification="deception")] * 2)
    _write_jsonl(tmp_path / "other.jsonl", [_prm_record()])

    triplets = load_prmbench(tmp_path)

    assert len(triplets) == 6
    assert len({triplet.triplet_id for triplet in triplets}) == 4


def test_prmbench_directory_without_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"contains no p1_\*\.jsonl files"):
        load_prmbench(tmp_path)


# ---------------------------------------------------------------------------
# This project's JSONL records


def _triplet(number: int = 1) -> Triplet:
    return Triplet(
        triplet_id=f"t{number}",
        problem_id="p1",
        question="Show that 1 + 1 = 2.",
        steps=["By definition 2 is the successor of 1.", "Hence 1 + 1 = 2."],
        source="test",
        method=GenerationMethod.ERROR_INJECTION,
        generator="rules",
        error_type=ErrorType.SIGN_ERROR,
        error_steps=[2],
        label="incorrect",
        metadata={"seed": 3},
    )


def _triplet_record(**changes: Any) -> dict[str, Any]:
    record = json.loads(_triplet().model_dump_json())
    record.update(changes)
    return record


def test_triplets_jsonl_round_trip(tmp_path: Path) -> None:
    file = tmp_path / "triplets.jsonl"
    file.write_text(
        _triplet(1).model_dump_json() + "\n\n" + _triplet(2).model_dump_json() + "\n",
        encoding="utf-8",
    )

    triplets = load_triplets_jsonl(file)

    assert triplets == [_triplet(1), _triplet(2)]


def test_triplets_jsonl_accepts_proof_text(tmp_path: Path) -> None:
    record = _triplet_record()
    del record["steps"]
    record["proof"] = "1. By definition 2 is the successor of 1.\n2. Hence 1 + 1 = 2 as required."
    file = _write_jsonl(tmp_path / "proof_text.jsonl", [record])

    (triplet,) = load_triplets_jsonl(file)

    assert triplet.steps == ["By definition 2 is the successor of 1.", "Hence 1 + 1 = 2 as required."]


def test_triplets_jsonl_empty_proof(tmp_path: Path) -> None:
    record = _triplet_record()
    del record["steps"]
    record["proof"] = "   "
    file = _write_jsonl(tmp_path / "empty_proof.jsonl", [_triplet_record(), record])

    with pytest.raises(InputError, match="proof text is empty") as caught:
        load_triplets_jsonl(file)

    assert_located(caught.value, file, 2, "proof")


def test_triplets_jsonl_proof_and_steps(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "both.jsonl", [_triplet_record(proof="Some proof text here.")])

    with pytest.raises(InputError, match="both 'proof' and 'steps'") as caught:
        load_triplets_jsonl(file)

    assert_located(caught.value, file, 1, "proof")


def test_triplets_jsonl_missing_field(tmp_path: Path) -> None:
    record = _triplet_record()
    del record["question"]
    file = _write_jsonl(tmp_path / "missing.jsonl", [_triplet_record(triplet_id="t0"), record])

    with pytest.raises(InputError, match="Field required") as caught:
        load_triplets_jsonl(file)

    assert_located(caught.value, file, 2, "question")


def test_triplets_jsonl_invalid_label(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "label.jsonl", [_triplet_record(label="maybe")])

    with pytest.raises(InputError, match="'maybe'") as caught:
        load_triplets_jsonl(file)

    assert_located(caught.value, file, 1, "label")


def test_triplets_jsonl_nan_rejected(tmp_path: Path) -> None:
    line = json.dumps(_triplet_record()).replace('"seed": 3', '"seed": NaN')
    file = _write_jsonl(tmp_path / "nan.jsonl", [_triplet_record(triplet_id="t0"), line])

    with pytest.raises(InputError, match="NaN is not a valid number") as caught:
        load_triplets_jsonl(file)

    assert_located(caught.value, file, 2, None)


def test_triplets_jsonl_malformed_line(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "malformed.jsonl", [_triplet_record(), "[1, 2]"])

    with pytest.raises(InputError, match="expected a JSON object, got list") as caught:
        load_triplets_jsonl(file)

    assert_located(caught.value, file, 2, None)


def test_triplets_jsonl_duplicate_id(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "duplicate.jsonl", [_triplet_record(), _triplet_record()])

    with pytest.raises(
        InputError, match="duplicate triplet_id 't1', first seen on line 1"
    ) as caught:
        load_triplets_jsonl(file)

    assert_located(caught.value, file, 2, "triplet_id")


def test_problems_jsonl_round_trip_and_proof(tmp_path: Path) -> None:
    stored = Problem(
        problem_id="p1",
        question="Show that 2 is prime.",
        reference_steps=["Its divisors are 1 and 2."],
        source="test",
    )
    from_proof = {"problem_id": "p2", "question": "Show that 3 is prime.", "proof": "Its only divisors are 1 and 3.", "source": "test"}
    file = _write_jsonl(
        tmp_path / "problems.jsonl", [json.loads(stored.model_dump_json()), from_proof]
    )

    problems = load_problems_jsonl(file)

    assert problems[0] == stored
    assert problems[1].reference_steps == ["Its only divisors are 1 and 3."]


def test_problems_jsonl_invalid_record(tmp_path: Path) -> None:
    file = _write_jsonl(
        tmp_path / "problems.jsonl", [{"problem_id": "p1", "question": " ", "source": "test"}]
    )

    with pytest.raises(InputError, match="question is blank") as caught:
        load_problems_jsonl(file)

    assert_located(caught.value, file, 1, "question")


def test_problems_jsonl_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"absent\.jsonl: problems JSONL file not found"):
        load_problems_jsonl(tmp_path / "absent.jsonl")


# ---------------------------------------------------------------------------
# Format detection and dispatch


@pytest.fixture()
def format_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "opc": _write_opc(tmp_path / "opc.parquet", [_opc_row("P1", "model-a", "correct")]),
        "prmbench": _write_jsonl(tmp_path / "p1_counterfactual.jsonl", [_prm_record()]),
        "imo-proofbench": _write_imo(tmp_path / "proofbench.csv", [_imo_row("PB-1")]),
        "triplets-jsonl": _write_jsonl(tmp_path / "triplets.jsonl", [_triplet_record()]),
        "problems-jsonl": _write_jsonl(
            tmp_path / "problems.jsonl", [{"problem_id": "p1", "question": "Show it.", "source": "test"}]
        ),
    }
    return files


def test_detect_format_each_format(format_files: dict[str, Path]) -> None:
    assert set(format_files) == set(SUPPORTED_FORMATS)
    for expected, path in format_files.items():
        assert detect_format(path) == expected, path


def test_detect_format_prmbench_directory(format_files: dict[str, Path]) -> None:
    assert detect_format(format_files["prmbench"].parent) == "prmbench"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", "plain text"),
        ("table.csv", "date,value\n2020-01-01,1\n"),
        ("records.jsonl", '{"unrelated": 1}\n'),
        ("empty.jsonl", "\n"),
    ],
)
def test_detect_format_unknown(tmp_path: Path, name: str, content: str) -> None:
    file = tmp_path / name
    file.write_text(content, encoding="utf-8")

    with pytest.raises(InputError, match="unrecognized data format") as caught:
        detect_format(file)

    assert_located(caught.value, file, None, None)
    for supported in SUPPORTED_FORMATS:
        assert supported in str(caught.value)


def test_detect_format_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.parquet"

    with pytest.raises(InputError, match=rf"{re.escape(str(missing))}: input path not found"):
        detect_format(missing)


def test_load_triplets_dispatch(format_files: dict[str, Path]) -> None:
    assert len(load_triplets(format_files["opc"])) == 1
    assert len(load_triplets(format_files["prmbench"])) == 2
    assert len(load_triplets(format_files["triplets-jsonl"], format="triplets-jsonl")) == 1


def test_load_problems_dispatch(format_files: dict[str, Path]) -> None:
    expected_ids = {"opc": ["P1"], "imo-proofbench": ["PB-1"], "problems-jsonl": ["p1"]}

    for name, ids in expected_ids.items():
        problems = load_problems(format_files[name])
        assert [problem.problem_id for problem in problems] == ids, name


def test_load_triplets_rejects_problem_file(format_files: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="contains problems, not triplets"):
        load_triplets(format_files["imo-proofbench"])


def test_load_problems_rejects_triplet_file(format_files: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="contains triplets, not problems"):
        load_problems(format_files["prmbench"])


def test_load_triplets_unknown_format_name(format_files: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"field 'format'.*unknown format 'xml'.*imo-proofbench"):
        load_triplets(format_files["opc"], format="xml")


@pytest.mark.parametrize("loader", [load_triplets, load_problems])
def test_load_missing_path(tmp_path: Path, loader: Any) -> None:
    missing = tmp_path / "missing.jsonl"

    with pytest.raises(InputError, match=rf"{re.escape(str(missing))}: input path not found"):
        loader(missing, format="triplets-jsonl")


def test_loaders_log_counts(
    format_files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="components.proofs.importers"):
        load_triplets(format_files["triplets-jsonl"])
        load_problems(format_files["imo-proofbench"])

    assert "Read 1 triplets from" in caplog.text
    assert "Read 1 problems from IMO-ProofBench file" in caplog.text


# ---------------------------------------------------------------------------
# Real data sets


def test_real_opc_triplets(shared_data: Path) -> None:
    triplets = load_opc(_real_file(shared_data, "opc/opc_dev.parquet"))

    assert len(triplets) == 306
    assert Counter(triplet.label for triplet in triplets)["correct"] == 110
    assert len({triplet.triplet_id for triplet in triplets}) == 306
    for triplet in triplets:
        assert triplet.steps
        assert triplet.question.strip()
        assert "### Model Solution" not in triplet.question
        assert "### Problem Statement" not in triplet.steps[0]


def test_real_opc_problems(shared_data: Path) -> None:
    problems = load_opc_problems(_real_file(shared_data, "opc/opc_dev.parquet"))

    assert len(problems) == 69
    assert sum(1 for problem in problems if problem.reference_steps) > 50


def test_real_prmbench_directory(shared_data: Path) -> None:
    triplets = load_prmbench(_real_file(shared_data, "prmbench"))

    labels = Counter(triplet.label for triplet in triplets)
    assert labels == {"correct": 538, "incorrect": 538}
    assert len({triplet.triplet_id for triplet in triplets}) == 2 * 538
    for triplet in triplets:
        assert all(1 <= step <= len(triplet.steps) for step in triplet.error_steps)
        assert not re.match(r"(Step )?\d+\. ", triplet.steps[0])
    incorrect = [triplet for triplet in triplets if triplet.label == "incorrect"]
    assert {triplet.error_type for triplet in incorrect} == {
        ErrorType.CIRCULAR_REASONING,
        ErrorType.UNJUSTIFIED_CLAIM,
        ErrorType.COUNTERFACTUAL,
        ErrorType.DECEPTION,
        ErrorType.DROPPED_CONDITION,
        ErrorType.STEP_CONTRADICTION,
    }
    assert sum(1 for triplet in incorrect if triplet.error_steps) >= 530


def test_real_imo_proofbench(shared_data: Path) -> None:
    problems = load_imo_proofbench(_real_file(shared_data, "imobench/proofbench_v2.csv"))

    assert len(problems) == 60
    assert all(problem.reference_steps for problem in problems)
    assert {problem.topic for problem in problems} == {"algebra", "combinatorics", "geometry", "number_theory"}


def test_real_detect_format(shared_data: Path) -> None:
    assert detect_format(_real_file(shared_data, "opc/opc_dev.parquet")) == "opc"
    assert detect_format(_real_file(shared_data, "prmbench")) == "prmbench"
    assert detect_format(_real_file(shared_data, "prmbench/p1_circular.jsonl")) == "prmbench"
    assert detect_format(_real_file(shared_data, "imobench/proofbench_v2.csv")) == "imo-proofbench"
