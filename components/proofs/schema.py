"""Canonical records of the proof pipeline.

A `Problem` is a statement with an optional reference proof split into steps.
A `Triplet` is the question-proof-check record that the reward model trains on:
a proof (as numbered steps), how it was made, its label with the erroneous
steps, the pre-check verdict and the history of human review.

Steps are numbered from 1 everywhere (`error_steps`, `flagged_steps`), as in
PRMBench and in what reviewers see.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Label = Literal["correct", "incorrect"]
Verdict = Literal["correct", "incorrect", "unsure"]


class ErrorType(str, Enum):
    """Taxonomy of proof errors; the first eight are the ones the embedded generator injects."""

    COMPUTATIONAL_SLIP = "computational_slip"
    SIGN_ERROR = "sign_error"
    UNJUSTIFIED_CLAIM = "unjustified_claim"
    SKIPPED_CASE = "skipped_case"
    CIRCULAR_REASONING = "circular_reasoning"
    MISAPPLIED_THEOREM = "misapplied_theorem"
    GENERALIZATION_FROM_EXAMPLES = "generalization_from_examples"
    DROPPED_CONDITION = "dropped_condition"
    REVERSED_INEQUALITY = "reversed_inequality"
    COUNTERFACTUAL = "counterfactual"
    STEP_CONTRADICTION = "step_contradiction"
    DECEPTION = "deception"
    OTHER = "other"


class GenerationMethod(str, Enum):
    """How a proof was produced."""

    REFERENCE = "reference"  # the reference proof itself
    SCRATCH = "scratch"  # written from the question alone (needs a language model)
    REPHRASE = "rephrase"  # same argument, restructured sentences
    MASK_COMPLETION = "mask_completion"  # key steps masked, then filled in
    AUGMENT = "augment"  # reworded, content unchanged
    ERROR_INJECTION = "error_injection"  # a typed error inserted into a correct proof
    IMPORTED = "imported"  # taken as is from an external data set


class Problem(BaseModel):
    """A proof problem with an optional reference proof split into steps."""

    model_config = ConfigDict(extra="forbid")

    problem_id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    reference_steps: list[str] = Field(default_factory=list)
    source: str = Field(min_length=1)
    topic: str | None = None
    difficulty: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is blank")
        return value

    @field_validator("reference_steps")
    @classmethod
    def _steps_not_blank(cls, steps: list[str]) -> list[str]:
        for number, step in enumerate(steps, start=1):
            if not step.strip():
                raise ValueError(f"reference step {number} is blank")
        return steps


class Check(BaseModel):
    """A verdict on a proof with its rationale, from the pre-check or a judge."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    rationale: str = ""
    checker: str = Field(min_length=1)
    flagged_steps: list[int] = Field(default_factory=list)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class ReviewEvent(BaseModel):
    """One human decision on a triplet; the history of a triplet is a list of these."""

    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(min_length=1)
    level: int = Field(ge=1, le=2)
    verdict: Verdict
    error_steps: list[int] = Field(default_factory=list)
    error_type: ErrorType | None = None
    comment: str = ""
    seconds_spent: float | None = Field(default=None, ge=0.0)
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class Triplet(BaseModel):
    """A question-proof-check record."""

    model_config = ConfigDict(extra="forbid")

    triplet_id: str = Field(min_length=1)
    problem_id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    steps: list[str] = Field(min_length=1)
    source: str = Field(min_length=1)
    method: GenerationMethod
    generator: str = Field(min_length=1)
    generator_params: dict[str, Any] = Field(default_factory=dict)
    error_type: ErrorType | None = None
    error_steps: list[int] = Field(default_factory=list)
    label: Label
    check: Check | None = None
    difficulty: str | None = None
    topic: str | None = None
    review: list[ReviewEvent] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _steps_not_blank(cls, steps: list[str]) -> list[str]:
        for number, step in enumerate(steps, start=1):
            if not step.strip():
                raise ValueError(f"step {number} is blank; an empty proof step cannot be labelled")
        return steps

    @field_validator("generator_params", "metadata")
    @classmethod
    def _no_nan(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, value in params.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"'{key}' is {value}; numeric values must be finite")
        return params

    @model_validator(mode="after")
    def _label_consistent(self) -> "Triplet":
        if self.label == "correct" and (self.error_type is not None or self.error_steps):
            raise ValueError("a correct proof cannot have an error_type or error_steps")
        for step in self.error_steps:
            if not 1 <= step <= len(self.steps):
                raise ValueError(
                    f"error step {step} is outside 1..{len(self.steps)}; steps are numbered from 1"
                )
        return self

    @property
    def proof(self) -> str:
        """The proof as text, one step per line."""
        return "\n".join(self.steps)

    @property
    def final_label(self) -> Label:
        """The label after review: the last level-2 decision, else the construction label."""
        for event in reversed(self.review):
            if event.level == 2 and event.verdict != "unsure":
                return event.verdict
        return self.label


def stable_id(*parts: object, length: int = 16) -> str:
    """Return a short hex id that depends only on `parts`, stable across processes."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8"))
    return digest.hexdigest()[:length]
