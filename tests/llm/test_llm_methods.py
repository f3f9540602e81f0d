"""Language-model generation methods and judge against the test server: prompts, parsers, journal, vote."""

from __future__ import annotations

import json

import pytest

from components.errors import InputError
from components.llm import Completion, LLMError, OpenAIChatBackend, SamplingParams
from components.proofs.bank import load_bank
from components.proofs.judge import JudgeSample, LLMJudge, judge_all, majority_vote, parse_judgement
from components.proofs.llm_generate import Journal, LLMProofGenerator, ModelChoice, WorkItem, mask_positions, plan_items, run_items
from components.proofs.prompting import PromptTemplate, parse_steps
from components.proofs.schema import ErrorType, GenerationMethod
from tests.llm.openai_server import OpenAITestServer


@pytest.fixture(scope="module")
def problems():
    return load_bank(None)[:4]


@pytest.fixture
def server():
    with OpenAITestServer() as running:
        yield running


def models(server, *names):
    return [ModelChoice(name, SamplingParams(temperature=0.2, max_tokens=256, seed=1),
                        OpenAIChatBackend(server.base_url, name, timeout=2.0, max_retries=0, concurrency=2))
            for name in names]


def test_plan_spreads_models_and_error_types(problems):
    items = plan_items(problems, methods={"rephrase": 1, "mask_completion": 1, "scratch": 1},
                       error_types=["sign_error", "skipped_case"], errors_per_problem=2, models=["a", "b"], seed=0)
    assert len(items) == 4 * 5
    assert {item.model for item in items} == {"a", "b"}
    errors = [item for item in items if item.method == "error_injection"]
    for problem in problems:
        kinds = {item.error_type for item in errors if item.problem_id == problem.problem_id}
        assert kinds == {"sign_error", "skipped_case"}
    assert len({item.item_id for item in items}) == len(items)
    with pytest.raises(InputError, match="unknown generation method 'paraphrase'"):
        plan_items(problems, methods={"paraphrase": 1}, error_types=[], errors_per_problem=0, models=["a"], seed=0)


def test_every_method_records_method_model_and_params(server, problems, tmp_path):
    generator = LLMProofGenerator(models(server, "model-a", "model-b"), seed=0)
    items = plan_items(problems, methods={"scratch": 1, "rephrase": 1, "augment": 1, "mask_completion": 1},
                       error_types=["dropped_condition"], errors_per_problem=1, models=["model-a", "model-b"], seed=0)
    triplets, failures, report = run_items(generator, items, {p.problem_id: p for p in problems},
                                           Journal(tmp_path / "journal.jsonl"))
    assert failures == []
    assert report.generated == len(items)
    by_method = {t.method for t in triplets}
    assert by_method == {GenerationMethod.SCRATCH, GenerationMethod.REPHRASE, GenerationMethod.AUGMENT,
                         GenerationMethod.MASK_COMPLETION, GenerationMethod.ERROR_INJECTION}
    for triplet in triplets:
        assert triplet.generator_params["model"] in ("model-a", "model-b")
        assert triplet.generator == f"openai:{triplet.generator_params['model']}"
        assert triplet.generator_params["temperature"] == 0.2
        assert triplet.generator_params["template"] == triplet.method.value
    for triplet in (t for t in triplets if t.method == GenerationMethod.MASK_COMPLETION):
        problem = next(p for p in problems if p.problem_id == triplet.problem_id)
        masked = triplet.generator_params["masked_steps"]
        assert masked == mask_positions(problem, 0, 0)
        for number in masked:
            assert triplet.steps[number - 1].startswith(f"Step {number} follows")
    for triplet in (t for t in triplets if t.method == GenerationMethod.ERROR_INJECTION):
        assert triplet.label == "incorrect"
        assert triplet.error_type == ErrorType.DROPPED_CONDITION
        assert "fails for n = 0" in triplet.steps[triplet.error_steps[0] - 1]


def test_failures_marked_and_rerun_skips_finished(server, problems, tmp_path):
    generator = LLMProofGenerator(models(server, "m"), seed=0)
    items = plan_items(problems, methods={"rephrase": 1}, error_types=["sign_error"], errors_per_problem=1, models=["m"], seed=0)
    server.script.extend([("raw", "not json"), ("text", "no steps here"), ("text", ""), ("finish", "length")])
    journal = Journal(tmp_path / "journal.jsonl")
    problem_map = {p.problem_id: p for p in problems}
    generator.models["m"].backend.concurrency = 1

    triplets, failures, report = run_items(generator, items, problem_map, journal)
    assert report.failed == 4
    assert len(triplets) == len(items) - 4
    assert set(report.failures_by_reason) <= {"invalid_json", "unparseable", "empty_completion", "cut_off"}
    assert {f["reason"] for f in failures} == set(report.failures_by_reason)

    sent = len(server.requests)
    again, failures_again, report_again = run_items(generator, items, problem_map, journal)
    assert report_again.resumed == len(items) - 4
    assert len(server.requests) - sent == 4  # only the failed items are asked again
    assert failures_again == []
    assert {t.triplet_id for t in again} == {item.item_id for item in items}


def test_parsers_reject_malformed_replies(problems):
    assert parse_steps('Sure!\n```json\n{"steps": ["a", "b"]}\n```') == ["a", "b"]
    assert parse_steps("Step 1: first\nStep 2: second") == ["first", "second"]
    with pytest.raises(LLMError, match="wrong_step_count"):
        parse_steps('{"steps": ["a"]}', expected=2)
    with pytest.raises(LLMError, match="unparseable"):
        parse_steps('{"steps": ["a", "  "]}')
    generator = LLMProofGenerator([], seed=0)
    problem = problems[0]
    item = WorkItem(problem.problem_id, "error_injection", 0, "m", "sign_error")
    generator.models["m"] = ModelChoice("m", SamplingParams(), backend=None)  # parse needs no backend call
    unchanged = json.dumps({"steps": problem.reference_steps, "error_steps": [1]})
    with pytest.raises(LLMError, match="unchanged"):
        generator.parse(item, problem, Completion(unchanged, "m"))
    outside = json.dumps({"steps": ["x"] * len(problem.reference_steps), "error_steps": [99]})
    with pytest.raises(LLMError, match="step_out_of_range"):
        generator.parse(item, problem, Completion(outside, "m"))


def test_template_errors(tmp_path):
    with pytest.raises(InputError, match="prompt template not found"):
        PromptTemplate.load(tmp_path / "missing.txt")
    path = tmp_path / "bad.txt"
    path.write_text("[system]\nno user part\n")
    with pytest.raises(InputError, match=r"no \[user\] section"):
        PromptTemplate.load(path)
    path.write_text("[user]\nProve $question using $hint")
    with pytest.raises(InputError, match=r"placeholder \$hint"):
        PromptTemplate.load(path).render(question="q")


def test_majority_vote_against_hand_count():
    bad = [{"step": 2, "category": "sign_error", "description": ""}]
    samples = [JudgeSample("incorrect", bad), JudgeSample("incorrect", bad + [{"step": 3, "category": "other", "description": ""}]),
               JudgeSample("correct", [])]
    verdict, confidence, flagged, issues = majority_vote(samples, k=3)
    assert verdict == "incorrect"
    assert confidence == pytest.approx(2 / 3)
    assert flagged == [2, 3]  # step 3 has 1 of 2 incorrect votes: at least half
    assert majority_vote([JudgeSample("correct", []), JudgeSample("incorrect", bad)], k=2)[0] == "unsure"
    assert majority_vote([JudgeSample("correct", [])], k=3) == ("correct", pytest.approx(1 / 3), [], [])
    parsed = parse_judgement('{"verdict": "Incorrect", "issues": [{"step": 9, "category": "x"}, {"step": 1, "category": "nonsense"}]}', 3)
    assert parsed.verdict == "incorrect"
    assert parsed.issues == [{"step": 1, "category": "other", "description": ""}]


def test_judge_votes_over_samples(server, problems, tmp_path):
    generator = LLMProofGenerator(models(server, "m"), seed=0)
    items = plan_items(problems[:2], methods={"rephrase": 1}, error_types=["dropped_condition"], errors_per_problem=1,
                       models=["m"], seed=0)
    triplets, _, _ = run_items(generator, items, {p.problem_id: p for p in problems}, Journal(tmp_path / "j.jsonl"))
    backend = OpenAIChatBackend(server.base_url, "judge", timeout=2.0, max_retries=0, concurrency=1)
    judge = LLMJudge(backend, samples=3)
    server.script.extend([("raw", "garbage")] * 3)  # every sample of the first triplet fails
    checked, report = judge_all(judge, triplets)
    assert report.failed == 1
    assert checked[0].check.verdict == "unsure"
    assert "all 3 judge samples failed" in checked[0].metadata["judge"]["failed"]
    for triplet in checked[1:]:
        assert triplet.check.verdict == triplet.label
        assert triplet.check.confidence == 1.0
        assert triplet.check.flagged_steps == triplet.error_steps
        assert triplet.metadata["judge"]["votes"] == {triplet.label: 3}
    sent = [r["body"] for r in server.requests if r["body"]["model"] == "judge"]
    assert "Rubric:" in sent[0]["messages"][0]["content"]
    assert sorted({body["seed"] for body in sent}) == [0, 1, 2]
