"""Pre-check by a language-model judge: a structured verdict with step-level issues, majority vote over k samples.

Each sample returns `{"verdict": "correct" | "incorrect", "issues": [{"step",
"category", "description"}]}`. The verdict is the strict majority of the
samples that parsed (more than half of them); a tie or no parsed sample gives
"unsure". The confidence is the share of the k samples that voted for the
verdict. A step is flagged when at least half of the "incorrect" votes name it.
The prompt and the rubric are files (`prompts/judge.txt`,
`prompts/judge_rubric.md`) that users may edit or replace.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from components.errors import InputError
from components.llm.base import LLMError, Request, SamplingParams, TextGenerator
from components.proofs.prompting import PROMPT_DIR, PromptTemplate, number_steps, parse_json_reply
from components.proofs.schema import Check, ErrorType, Triplet

logger = logging.getLogger(__name__)

CATEGORIES = tuple(kind.value for kind in ErrorType)


@dataclass
class JudgeSample:
    """One parsed judge reply."""

    verdict: str
    issues: list[dict[str, Any]]


def parse_judgement(text: str, n_steps: int) -> JudgeSample:
    """Parse one reply; issues with a step outside 1..n_steps are dropped, unknown categories become "other"."""
    reply = parse_json_reply(text)
    verdict = str(reply.get("verdict", "")).strip().lower()
    if verdict not in ("correct", "incorrect"):
        raise LLMError("unparseable", f"verdict must be 'correct' or 'incorrect', got {reply.get('verdict')!r}")
    raw_issues = reply.get("issues") or []
    if not isinstance(raw_issues, list):
        raise LLMError("unparseable", f"'issues' must be a list, got {raw_issues!r}")
    issues = []
    for issue in raw_issues:
        if not isinstance(issue, dict):
            continue
        try:
            step = int(issue.get("step"))
        except (TypeError, ValueError):
            continue
        if not 1 <= step <= n_steps:
            continue
        category = str(issue.get("category", "other")).strip().lower()
        issues.append({"step": step, "category": category if category in CATEGORIES else "other",
                       "description": str(issue.get("description", ""))[:300]})
    return JudgeSample(verdict, issues)


def majority_vote(samples: Sequence[JudgeSample], k: int) -> tuple[str, float, list[int], list[dict[str, Any]]]:
    """Return (verdict, confidence, flagged steps, issues of the flagged steps) from up to k parsed samples."""
    votes = Counter(sample.verdict for sample in samples)
    verdict, count = votes.most_common(1)[0] if votes else ("unsure", 0)
    if count * 2 <= len(samples):
        return "unsure", 0.0, [], []
    confidence = count / k
    if verdict == "correct":
        return verdict, confidence, [], []

    against = [sample for sample in samples if sample.verdict == "incorrect"]
    step_votes = Counter(step for sample in against for step in {issue["step"] for issue in sample.issues})
    flagged = sorted(step for step, n in step_votes.items() if 2 * n >= len(against))
    issues = [issue for sample in against for issue in sample.issues if issue["step"] in flagged]
    return verdict, confidence, flagged, issues


@dataclass
class JudgeReport:
    """Counts of one `judge_all` call."""

    triplets: int = 0
    failed: int = 0
    failed_samples: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"triplets": self.triplets, "failed": self.failed, "failed_samples": self.failed_samples,
                "verdicts": dict(sorted(self.verdicts.items()))}


class LLMJudge:
    """Grade proofs with k samples of a language model and combine them by majority vote."""

    def __init__(
        self,
        backend: TextGenerator,
        *,
        samples: int = 3,
        params: SamplingParams | None = None,
        prompt: str | Path = PROMPT_DIR / "judge.txt",
        rubric: str | Path = PROMPT_DIR / "judge_rubric.md",
    ) -> None:
        if samples < 1:
            raise InputError(f"samples is {samples}; the judge needs at least 1", field="precheck.samples")
        self.backend = backend
        self.samples = samples
        self.params = params or SamplingParams(temperature=0.7, max_tokens=1024, seed=0)
        self.template = PromptTemplate.load(prompt)
        rubric = Path(rubric)
        if not rubric.exists():
            raise InputError("judge rubric not found", path=rubric, hint=f"Copy {PROMPT_DIR / 'judge_rubric.md'} and edit it")
        self.rubric = rubric.read_text(encoding="utf-8").strip()
        self.name = f"llm-judge:{backend.name}:k={samples}"

    def requests(self, triplet: Triplet) -> list[Request]:
        system, user = self.template.render(
            rubric=self.rubric, question=triplet.question, proof=number_steps(triplet.steps),
            n_steps=len(triplet.steps), categories=", ".join(CATEGORIES),
        )
        return [Request.chat(system, user, SamplingParams(**{**self.params.to_dict(), "sample": i}))
                for i in range(self.samples)]

    def combine(self, triplet: Triplet, replies: Sequence[Any]) -> tuple[Check, dict[str, Any]]:
        """Return the check and the judge record (votes, issues, failures) for one triplet's k replies."""
        parsed, errors = [], []
        for reply in replies:
            try:
                if isinstance(reply, LLMError):
                    raise reply
                parsed.append(parse_judgement(reply.text, len(triplet.steps)))
            except LLMError as exc:
                errors.append(exc.reason)
        record: dict[str, Any] = {"samples": self.samples, "votes": dict(Counter(s.verdict for s in parsed)),
                                  "failed_samples": errors}
        if not parsed:
            record["failed"] = f"all {self.samples} judge samples failed: {', '.join(sorted(set(errors)))}"
            return Check(verdict="unsure", rationale=record["failed"], checker=self.name, confidence=0.0), record

        verdict, confidence, flagged, issues = majority_vote(parsed, self.samples)
        record["issues"] = issues
        votes = ", ".join(f"{k} {v}" for k, v in sorted(record["votes"].items()))
        rationale = f"{self.samples} samples ({votes})"
        if issues:
            rationale += "; " + "; ".join(f"step {i['step']} [{i['category']}]: {i['description']}" for i in issues[:5])
        return Check(verdict=verdict, rationale=rationale, checker=self.name, flagged_steps=flagged,
                     confidence=round(confidence, 3)), record


def judge_all(judge: LLMJudge, triplets: Sequence[Triplet], *, chunk_size: int = 16, progress: bool = False) -> tuple[list[Triplet], JudgeReport]:
    """Return copies of `triplets` with `check` set by the judge and `metadata["judge"]` holding its record.

    A triplet whose k samples all fail gets verdict "unsure" and
    `metadata["judge"]["failed"]` with the reasons; the run goes on.
    """
    report = JudgeReport(triplets=len(triplets))
    checked: list[Triplet] = []
    for start in tqdm(range(0, len(triplets), chunk_size), desc="judging proofs", unit="chunk", disable=not progress):
        chunk = triplets[start : start + chunk_size]
        requests = [request for triplet in chunk for request in judge.requests(triplet)]
        replies = judge.backend.complete_many(requests)
        for index, triplet in enumerate(chunk):
            check, record = judge.combine(triplet, replies[index * judge.samples : (index + 1) * judge.samples])
            report.verdicts[check.verdict] += 1
            report.failed_samples += len(record["failed_samples"])
            if "failed" in record:
                report.failed += 1
                logger.error("judge failed on triplet %s: %s", triplet.triplet_id, record["failed"])
            metadata = {**triplet.metadata, "judge": record}
            checked.append(triplet.model_copy(update={"check": check, "metadata": metadata}, deep=True))
    logger.info("judge: %s", report.to_dict())
    return checked, report
