"""generate_task, precheck_task and diversity_task with the openai backend, through .fn(), against the test server."""

from __future__ import annotations

import json

import pytest
from prefect.logging import disable_run_logger

from tests.llm.openai_server import OpenAITestServer


@pytest.fixture
def server():
    with OpenAITestServer() as running:
        yield running


@pytest.fixture
def problems_ref(session_home):
    from components.artifacts import ArtifactStore
    from components.proofs.bank import load_bank

    return ArtifactStore(session_home).put_jsonl("problems", load_bank(None)[:3])


def configs(server, **generation):
    from flows.config import GenerationConfig, PrecheckConfig

    connection = {"backend": "openai", "base_url": server.base_url, "timeout_s": 5.0, "max_retries": 0, "concurrency": 1}
    return (
        GenerationConfig(**connection, methods={"rephrase": 1, "mask_completion": 1}, errors_per_problem=1,
                         error_types=["dropped_condition"], **generation),
        PrecheckConfig(**connection, samples=3),
    )


def test_generate_marks_failures_then_rerun_retries_only_them(server, problems_ref, session_home):
    from components.artifacts import ArtifactStore
    from components.proofs.schema import Triplet
    from tasks.proofs import generate_task

    generation, _ = configs(server, seed=11)
    server.script.extend([("raw", "not json"), ("status", 503)])
    store = ArtifactStore(session_home)
    with disable_run_logger():
        first = generate_task.fn(problems_ref, generation)
        sent = len(server.requests)
        second = generate_task.fn(problems_ref, generation)

    first_triplets = store.read_jsonl(first, Triplet)
    second_triplets = store.read_jsonl(second, Triplet)
    items = 3 * 3
    assert sent == items  # one chat request per item (the server records POSTs only)
    assert len(first_triplets) == 3 + items - 2  # three references, two failed items
    assert len(server.requests) - sent == 2  # the rerun requests only the two failed items
    assert len(second_triplets) == 3 + items
    assert {t.generator_params["model"] for t in second_triplets if t.method.value != "reference"} == {"auto"}
    assert {t.generator_params["served_model"] for t in second_triplets if t.method.value != "reference"} == {"test-model"}


def test_judge_precheck_and_diversity(server, problems_ref, session_home):
    from components.artifacts import ArtifactStore
    from components.proofs.schema import Triplet
    from flows.config import GenerationConfig
    from tasks.llm import diversity_task
    from tasks.proofs import generate_task, precheck_task

    generation, precheck = configs(server, seed=12)
    store = ArtifactStore(session_home)
    with disable_run_logger():
        triplets = generate_task.fn(problems_ref, generation)
        kept, report_ref = diversity_task.fn(triplets, problems_ref, generation)
        checked_ref = precheck_task.fn(kept, problems_ref, precheck)
    checked = store.read_jsonl(checked_ref, Triplet)
    assert {t.check.verdict for t in checked if t.label == "incorrect"} == {"incorrect"}
    assert {t.check.verdict for t in checked if t.label == "correct"} == {"correct"}
    assert all(t.check.checker == "llm-judge:openai:test-model:k=3" for t in checked)
    report = json.loads((session_home / report_ref.path).read_text())
    assert report["total"] == 12
    assert report["counts"]["method"]["error_injection"] == 3
    assert report["failures"] == {}
    assert isinstance(GenerationConfig().dedup_threshold, float)


def test_unreachable_server_is_input_error(problems_ref):
    from components.errors import InputError
    from flows.config import GenerationConfig
    from tasks.proofs import generate_task

    with OpenAITestServer() as closed:
        url = closed.base_url
    generation = GenerationConfig(backend="openai", base_url=url, max_retries=0, timeout_s=2.0)
    with disable_run_logger(), pytest.raises(InputError, match=r"cannot list the models.*unreachable"):
        generate_task.fn(problems_ref, generation)


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("generation.backend=gpt", r"generation\.backend"),
        ("generation.concurrency=0", r"generation\.concurrency.*greater than or equal to 1"),
        ("precheck.samples=16", r"precheck\.samples.*less than or equal to 15"),
        ("generation.models=[{name: m, temperature: 3}]", r"generation\.models\.0\.temperature"),
        ("generation.dedup_threshold=0", r"generation\.dedup_threshold"),
    ],
)
def test_llm_settings_validated(override, pattern):
    from components.errors import InputError
    from flows.config import load_config

    with pytest.raises(InputError, match=pattern):
        load_config("proof-rm", "smoke", [override])


def test_hf_backend_needs_model_folder():
    from components.errors import InputError
    from flows.config import GenerationConfig, LLMModelConfig
    from tasks.llm import make_backend

    with pytest.raises(InputError, match="local model folder"):
        make_backend(GenerationConfig(backend="hf"), LLMModelConfig())
