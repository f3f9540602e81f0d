"""Tests for the built-in proof problem bank and its YAML loader."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from components.errors import InputError
from components.proofs.bank import BANK_DIR, BANK_TOPICS, DIFFICULTIES, load_bank
from components.proofs.schema import Problem

MIN_PROBLEMS = 42
MIN_PER_TOPIC = 6
MIN_OLYMPIAD = 5
MIN_STEPS, MAX_STEPS = 4, 10

VALID_ENTRY = """\
- id: t-001
  difficulty: easy
  question: >-
    Prove that $x^2 \\ge 0$ for every real number $x$.
  steps:
    - 'Case 1: $x \\ge 0$. Then $x^2 = x \\cdot x \\ge 0$.'
    - 'Case 2: $x < 0$. Then $x^2 = (-x)(-x)$ with $-x > 0$, so $x^2 > 0$.'
    - 'Every real number $x$ falls under Case 1 or Case 2.'
    - 'Hence $x^2 \\ge 0$ for every real number $x$; for example, $(-3)^2 = 9$.'
  key_steps: [2]
  case_steps: [1, 2]
  conditions: ['real number']
"""


@pytest.fixture(scope="module")
def bank() -> list[Problem]:
    return load_bank()


def write_bank_file(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- the built-in bank -----------------------------------------------------


def test_bank_size(bank: list[Problem]) -> None:
    assert len(bank) >= MIN_PROBLEMS


def test_bank_topics_match_files() -> None:
    assert set(BANK_TOPICS) == {path.stem for path in BANK_DIR.glob("*.yaml")}


def test_every_topic_has_enough_problems(bank: list[Problem]) -> None:
    counts = Counter(problem.topic for problem in bank)
    for topic in BANK_TOPICS:
        assert counts[topic] >= MIN_PER_TOPIC, f"topic {topic} has {counts[topic]} problems"


def test_all_difficulties_present(bank: list[Problem]) -> None:
    assert {problem.difficulty for problem in bank} == set(DIFFICULTIES)


def test_enough_olympiad_problems(bank: list[Problem]) -> None:
    olympiad = [problem for problem in bank if problem.difficulty == "olympiad"]
    assert len(olympiad) >= MIN_OLYMPIAD


def test_problem_ids_unique(bank: list[Problem]) -> None:
    counts = Counter(problem.problem_id for problem in bank)
    duplicates = [problem_id for problem_id, count in counts.items() if count > 1]
    assert duplicates == []


def test_problems_validate(bank: list[Problem]) -> None:
    for problem in bank:
        assert Problem.model_validate(problem.model_dump()) == problem
        assert problem.source == "builtin"
        assert problem.topic in BANK_TOPICS
        assert problem.difficulty in DIFFICULTIES


def test_step_counts_in_range(bank: list[Problem]) -> None:
    for problem in bank:
        count = len(problem.reference_steps)
        assert MIN_STEPS <= count <= MAX_STEPS, f"{problem.problem_id} has {count} steps"


def test_steps_are_single_paragraphs(bank: list[Problem]) -> None:
    # A `|` block scalar in the YAML would keep line breaks inside a step.
    for problem in bank:
        for number, step in enumerate(problem.reference_steps, start=1):
            assert "\n" not in step, f"{problem.problem_id} step {number}"
            assert step == step.strip(), f"{problem.problem_id} step {number}"


def test_math_delimiters_balanced(bank: list[Problem]) -> None:
    for problem in bank:
        texts = {"question": problem.question}
        texts.update(
            {f"step {number}": step for number, step in enumerate(problem.reference_steps, start=1)}
        )
        for where, text in texts.items():
            assert text.count("$") % 2 == 0, f"{problem.problem_id} {where} has an unmatched $"


def test_metadata_has_all_keys(bank: list[Problem]) -> None:
    for problem in bank:
        assert set(problem.metadata) == {"key_steps", "case_steps", "conditions"}


def test_key_steps_in_range(bank: list[Problem]) -> None:
    for problem in bank:
        key_steps = problem.metadata["key_steps"]
        assert 1 <= len(key_steps) <= 3, f"{problem.problem_id} has {len(key_steps)} key steps"
        for number in key_steps:
            assert 1 <= number <= len(problem.reference_steps), f"{problem.problem_id}: {number}"


def test_case_steps_in_range(bank: list[Problem]) -> None:
    for problem in bank:
        for number in problem.metadata["case_steps"]:
            assert 1 <= number <= len(problem.reference_steps), f"{problem.problem_id}: {number}"


def test_case_steps_mention_a_case(bank: list[Problem]) -> None:
    for problem in bank:
        for number in problem.metadata["case_steps"]:
            step = problem.reference_steps[number - 1]
            assert "Case" in step or "Suppose" in step, f"{problem.problem_id} step {number}"


def test_some_problems_have_case_steps(bank: list[Problem]) -> None:
    assert sum(1 for problem in bank if problem.metadata["case_steps"]) >= 6


def test_conditions_occur_in_question(bank: list[Problem]) -> None:
    for problem in bank:
        for condition in problem.metadata["conditions"]:
            assert condition in problem.question, f"{problem.problem_id}: {condition!r}"


def test_topic_filter_selects_topics(bank: list[Problem]) -> None:
    selected = load_bank(["geometry", "algebra"])
    assert {problem.topic for problem in selected} == {"geometry", "algebra"}
    expected = [problem for problem in bank if problem.topic in ("geometry", "algebra")]
    assert len(selected) == len(expected)


def test_topic_filter_keeps_given_order() -> None:
    selected = load_bank(["induction", "number_theory"])
    topics = [problem.topic for problem in selected]
    assert topics == sorted(topics, key=["induction", "number_theory"].index)


def test_unknown_topic_raises() -> None:
    with pytest.raises(InputError, match=r"unknown topic 'topology'.*number_theory") as excinfo:
        load_bank(["geometry", "topology"])
    assert excinfo.value.field == "topics"


def test_topic_string_raises() -> None:
    with pytest.raises(InputError, match=r"list of topic names"):
        load_bank("geometry")  # type: ignore[arg-type]


def test_empty_topic_list_raises() -> None:
    with pytest.raises(InputError, match=r"empty list"):
        load_bank([])


# --- loading a directory ---------------------------------------------------


def test_directory_loads_valid_file(tmp_path: Path) -> None:
    write_bank_file(tmp_path, "basics.yaml", VALID_ENTRY)
    problems = load_bank(directory=tmp_path)
    assert len(problems) == 1
    problem = problems[0]
    assert problem.problem_id == "t-001"
    assert problem.topic == "basics"
    assert problem.source == "builtin"
    assert problem.reference_steps[0] == "Case 1: $x \\ge 0$. Then $x^2 = x \\cdot x \\ge 0$."
    assert problem.metadata == {"key_steps": [2], "case_steps": [1, 2], "conditions": ["real number"]}


def test_directory_without_optional_keys(tmp_path: Path) -> None:
    text = "\n".join(
        line
        for line in VALID_ENTRY.splitlines()
        if not line.startswith(("  key_steps", "  case_steps", "  conditions"))
    )
    write_bank_file(tmp_path, "basics.yaml", text)
    problem = load_bank(directory=tmp_path)[0]
    assert problem.metadata == {"key_steps": [], "case_steps": [], "conditions": []}


MALFORMED_ENTRIES = [
    ("key_steps", "  key_steps: [2]", "  key_steps: [5]", r"outside 1\.\.4"),
    ("key_steps", "  key_steps: [2]", "  key_steps: [0]", r"outside 1\.\.4"),
    ("key_steps", "  key_steps: [2]", "  key_steps: [true]", r"not a step number"),
    ("key_steps", "  key_steps: [2]", "  key_steps: [2, 2]", r"twice"),
    ("case_steps", "  case_steps: [1, 2]", "  case_steps: [1, 9]", r"outside 1\.\.4"),
    ("case_steps", "  case_steps: [1, 2]", "  case_steps: 1", r"must be a list"),
    ("conditions", "  conditions: ['real number']", "  conditions: ['$x > 0$']", r"does not occur"),
    ("difficulty", "  difficulty: easy", "  difficulty: trivial", r"invalid difficulty 'trivial'"),
    ("steps", "    - 'Every real", "    - ''\n    - 'Every real", r"step 3 must be a non-empty string"),
    ("keysteps", "  key_steps: [2]", "  keysteps: [2]", r"unknown key 'keysteps'"),
    ("question", "  question: >-\n    Prove", "  question: ' '\n  #  Prove", r"non-empty string"),
]


@pytest.mark.parametrize(("field", "old", "new", "detail"), MALFORMED_ENTRIES)
def test_malformed_entry_raises(
    tmp_path: Path, field: str, old: str, new: str, detail: str
) -> None:
    assert old in VALID_ENTRY
    write_bank_file(tmp_path, "broken.yaml", VALID_ENTRY.replace(old, new, 1))
    pattern = rf"broken\.yaml, line \d+, field '{field}': problem 't-001': .*{detail}"
    with pytest.raises(InputError, match=pattern) as excinfo:
        load_bank(directory=tmp_path)
    assert excinfo.value.field == field
    assert excinfo.value.path is not None
    assert excinfo.value.path.endswith("broken.yaml")


def test_malformed_entry_points_at_line(tmp_path: Path) -> None:
    write_bank_file(tmp_path, "broken.yaml", VALID_ENTRY.replace("[2]", "[7]"))
    with pytest.raises(InputError) as excinfo:
        load_bank(directory=tmp_path)
    key_steps_line = VALID_ENTRY.splitlines().index("  key_steps: [2]") + 1
    assert excinfo.value.line == key_steps_line


def test_missing_steps_raises(tmp_path: Path) -> None:
    text = VALID_ENTRY.split("  steps:")[0] + "  key_steps: [1]\n"
    write_bank_file(tmp_path, "broken.yaml", text)
    with pytest.raises(InputError, match=r"broken\.yaml.*field 'steps'.*'t-001'.*missing required key"):
        load_bank(directory=tmp_path)


def test_missing_id_raises(tmp_path: Path) -> None:
    write_bank_file(tmp_path, "broken.yaml", VALID_ENTRY.replace("- id: t-001\n  difficulty", "- difficulty"))
    with pytest.raises(InputError, match=r"broken\.yaml, line 1, field 'id': entry 1 has a missing"):
        load_bank(directory=tmp_path)


def test_duplicate_id_across_files_raises(tmp_path: Path) -> None:
    write_bank_file(tmp_path, "first.yaml", VALID_ENTRY)
    write_bank_file(tmp_path, "second.yaml", VALID_ENTRY)
    with pytest.raises(InputError, match=r"second\.yaml.*field 'id'.*'t-001'.*duplicate.*first\.yaml"):
        load_bank(directory=tmp_path)


def test_invalid_yaml_raises(tmp_path: Path) -> None:
    write_bank_file(tmp_path, "broken.yaml", "- id: t-001\n  question: [unclosed\n")
    with pytest.raises(InputError, match=r"broken\.yaml, line \d+: invalid YAML"):
        load_bank(directory=tmp_path)


def test_top_level_mapping_raises(tmp_path: Path) -> None:
    write_bank_file(tmp_path, "broken.yaml", "id: t-001\nquestion: Prove it.\n")
    with pytest.raises(InputError, match=r"broken\.yaml: expected a non-empty list.*got dict"):
        load_bank(directory=tmp_path)


def test_empty_file_raises(tmp_path: Path) -> None:
    write_bank_file(tmp_path, "broken.yaml", "# no problems yet\n")
    with pytest.raises(InputError, match=r"broken\.yaml: expected a non-empty list.*empty file"):
        load_bank(directory=tmp_path)


def test_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere.*directory not found"):
        load_bank(directory=tmp_path / "nowhere")


def test_directory_without_yaml_raises(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no \.yaml files"):
        load_bank(directory=tmp_path)


def test_directory_topic_filter(tmp_path: Path) -> None:
    write_bank_file(tmp_path, "basics.yaml", VALID_ENTRY)
    write_bank_file(tmp_path, "other.yaml", VALID_ENTRY.replace("t-001", "t-002"))
    assert [problem.problem_id for problem in load_bank(["other"], directory=tmp_path)] == ["t-002"]
    with pytest.raises(InputError, match=r"unknown topic 'geometry'.*basics, other"):
        load_bank(["geometry"], directory=tmp_path)
