"""Tests of the proof step splitter on small texts and on the real proofs when present."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from components.errors import InputError
from components.proofs.steps import MIN_STEP_CHARS, split_steps, strip_step_number


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


def _without_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------------------
# Numbered lines


@pytest.mark.parametrize(
    "text",
    [
        "1. Let x be an even integer.\n2. Then x + 1 is an odd integer.\n3. Hence the claim holds for x.",
        "1) Let x be an even integer.\n2) Then x + 1 is an odd integer.\n3) Hence the claim holds for x.",
        "Step 1: Let x be an even integer.\nStep 2: Then x + 1 is an odd integer.\n"
        "Step 3: Hence the claim holds for x.",
        "**Step 1** Let x be an even integer.\n**Step 2** Then x + 1 is an odd integer.\n"
        "**Step 3** Hence the claim holds for x.",
        "### Step 1: Let x be an even integer.\n### Step 2: Then x + 1 is an odd integer.\n"
        "### Step 3: Hence the claim holds for x.",
    ],
    ids=["dot", "parenthesis", "step-colon", "bold-step", "markdown-heading"],
)
def test_numbered_lines_become_steps(text: str) -> None:
    steps = split_steps(text)

    assert steps == [
        "Let x be an even integer.",
        "Then x + 1 is an odd integer.",
        "Hence the claim holds for x.",
    ]


def test_numbered_item_keeps_its_continuation_lines() -> None:
    text = (
        "1. Let x be an even integer,\n   written as x = 2k for an integer k.\n"
        "2. Then x + 1 = 2k + 1 is odd, as claimed."
    )

    steps = split_steps(text)

    assert len(steps) == 2
    assert steps[0] == "Let x be an even integer,\n   written as x = 2k for an integer k."


def test_preamble_before_numbered_lines_is_step() -> None:
    text = (
        "We argue by induction on n in three steps.\n"
        "1. The base case n = 1 holds.\n"
        "2. The step from n to n + 1 holds."
    )

    steps = split_steps(text)

    assert steps[0] == "We argue by induction on n in three steps."
    assert len(steps) == 3


def test_single_numbered_line_means_paragraphs() -> None:
    text = "1. Let x be an even integer here.\n\nThen x + 1 is odd, which proves it."

    steps = split_steps(text)

    assert steps == ["Let x be an even integer here.", "Then x + 1 is odd, which proves it."]


def test_dollar_amounts_do_not_hide_numbers() -> None:
    text = "1. The pencil costs $1.24 in this shop.\n2. The eraser costs $0.50 in this shop."

    steps = split_steps(text)

    assert steps == ["The pencil costs $1.24 in this shop.", "The eraser costs $0.50 in this shop."]


# ---------------------------------------------------------------------------
# Paragraphs and display math


def test_paragraphs_become_steps() -> None:
    text = "Let n be an odd integer.\n\n  Then n squared is odd as well.\n\n\nHence the sum is even."

    assert split_steps(text) == [
        "Let n be an odd integer.",
        "Then n squared is odd as well.",
        "Hence the sum is even.",
    ]


@pytest.mark.parametrize(
    "display",
    [
        "\\[\na^2 + b^2 = c^2\n\\]",
        "$$\na^2 + b^2 = c^2\n$$",
        "\\begin{align}\na^2 &= c^2 - b^2 \\\\\n\n&= (c - b)(c + b)\n\\end{align}",
        "\\begin{align*}\na^2 &= c^2 - b^2\n\\end{align*}",
        "\\$\\$\\begin{aligned}\na^2 &= c^2 - b^2\n\\end{aligned}\\$\\$",
    ],
    ids=["brackets", "dollars", "align-with-blank-line", "align-star", "escaped-dollars"],
)
def test_display_math_stays_with_sentence_before(display: str) -> None:
    text = f"By the theorem of Pythagoras we have\n\n{display}\n\nNow we compare both sides of it."

    steps = split_steps(text)

    assert len(steps) == 2
    assert steps[0].startswith("By the theorem of Pythagoras we have")
    assert steps[0].endswith(display)
    assert steps[1] == "Now we compare both sides of it."


def test_sentence_after_display_math_stays() -> None:
    text = (
        "From the two bounds we get\n\n\\[ m x_{n} < n \\]\n\n"
        "which contradicts the choice of n.\n\nTherefore m is minimal here."
    )

    steps = split_steps(text)

    assert len(steps) == 2
    assert steps[0].endswith("which contradicts the choice of n.")
    assert steps[1] == "Therefore m is minimal here."


# ---------------------------------------------------------------------------
# Long paragraphs


def test_long_paragraph_split_at_sentence_ends() -> None:
    sentences = [
        f"Claim {number} holds because $x_{{{number}}} = {number}. Y$ is true." for number in range(20)
    ]
    text = " ".join(sentences)

    steps = split_steps(text, max_chars=120)

    assert len(steps) > 1
    for step in steps:
        assert len(step) <= 120
        assert step.endswith("is true.")
        assert step.count("$") % 2 == 0
    assert _without_space("".join(steps)) == _without_space(text)


def test_long_paragraph_keeps_display_with_sentence() -> None:
    filler = "This sentence only adds length to the paragraph. " * 4
    text = f"{filler}Hence we obtain. \\[ x = 1. Y = 2. \\] Therefore the bound holds. {filler}"

    steps = split_steps(text, max_chars=150)

    holder = [step for step in steps if "\\[" in step]
    assert len(holder) == 1
    assert "Hence we obtain. \\[ x = 1. Y = 2. \\]" in holder[0]
    assert all(step.count("\\[") == step.count("\\]") for step in steps)


def test_abbreviation_is_not_sentence_end() -> None:
    text = "Some claims hold, e.g. Lemma two here. " * 10

    steps = split_steps(text, max_chars=100)

    assert all(not step.startswith("Lemma") for step in steps)


def test_unsplittable_sentence_stays_whole() -> None:
    text = "word " * 200

    assert split_steps(text, max_chars=100) == [text.strip()]


# ---------------------------------------------------------------------------
# Short fragments, number stripping and invalid input


def test_short_fragment_merged_into_next() -> None:
    text = "Proof.\n\nLet n be an odd integer here.\n\nThen n squared is odd as well."

    steps = split_steps(text)

    assert steps == ["Proof.\nLet n be an odd integer here.", "Then n squared is odd as well."]


def test_short_last_fragment_merged_into_previous() -> None:
    text = "Let n be an odd integer here.\n\nThen n squared is odd as well.\n\nQED"

    steps = split_steps(text)

    assert steps[-1] == "Then n squared is odd as well.\nQED"


def test_short_proof_kept_as_one_step() -> None:
    assert split_steps("Trivial.") == ["Trivial."]


def test_no_step_shorter_than_minimum() -> None:
    text = "\n\n".join(
        ["Ok.", "A longer paragraph that states a fact.", "Yes.", "Another fact about the integers.", "Done."],
    )

    steps = split_steps(text)

    assert all(len(step) >= MIN_STEP_CHARS for step in steps)
    assert _without_space("".join(steps)) == _without_space(text)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("3. Foo bar", "Foo bar"),
        ("3) Foo bar", "Foo bar"),
        ("Step 3: Foo bar", "Foo bar"),
        ("step 3. Foo bar", "Foo bar"),
        ("**Step 3**: Foo bar", "Foo bar"),
        ("**Step 3:** Foo bar", "Foo bar"),
        ("**Step 3: Foo bar**", "**Foo bar**"),
        ("### Step 2: Length of \\(AQ\\)", "Length of \\(AQ\\)"),
        ("**1.** Foo bar", "Foo bar"),
        ("Step 3 is to show it", "Step 3 is to show it"),
        ("1.5 is small", "1.5 is small"),
        ("No number here", "No number here"),
        ("3.", ""),
    ],
)
def test_strip_step_number(step: str, expected: str) -> None:
    assert strip_step_number(step) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t\n"])
def test_empty_text_rejected(text: str) -> None:
    with pytest.raises(InputError, match="proof text is empty"):
        split_steps(text)


def test_numbers_only_rejected() -> None:
    with pytest.raises(InputError, match="only step numbers"):
        split_steps("1.\n2.\n3.")


def test_non_positive_max_chars_rejected() -> None:
    with pytest.raises(InputError, match=r"field 'max_chars'.*must be positive"):
        split_steps("Some proof text that is long enough.", max_chars=0)


# ---------------------------------------------------------------------------
# Real proofs


def _math_balanced(text: str) -> bool:
    if text.count("\\[") != text.count("\\]") or text.count("\\(") != text.count("\\)"):
        return False
    if text.count("$$") % 2:
        return False
    for environment in set(
        re.findall(r"\\begin\{(align\*?|aligned|array|cases|equation\*?|gather\*?)\}", text)
    ):
        if text.count(f"\\begin{{{environment}}}") != text.count(f"\\end{{{environment}}}"):
            return False
    return True


def test_real_proofs_never_cut_math(shared_data: Path) -> None:
    pandas = pytest.importorskip("pandas")
    opc_file = shared_data / "opc" / "opc_dev.parquet"
    imo_file = shared_data / "imobench" / "proofbench_v2.csv"
    if not opc_file.is_file() or not imo_file.is_file():
        pytest.skip(f"{opc_file} or {imo_file} is absent")

    proofs = []
    for row in pandas.read_parquet(opc_file, columns=["prompt", "solutions"]).itertuples():
        proofs.append(row.prompt[0]["content"].split("### Model Solution:", 1)[1])
        proofs.extend(solution["solution"] for solution in row.solutions)
    with imo_file.open(encoding="utf-8", newline="") as handle:
        proofs.extend(record["Solution"] for record in csv.DictReader(handle))

    assert len(proofs) > 600
    for proof in proofs:
        steps = split_steps(proof)
        assert steps
        assert all(step.strip() for step in steps)
        if _math_balanced(proof):
            unbalanced = [step for step in steps if not _math_balanced(step)]
            assert unbalanced == []
