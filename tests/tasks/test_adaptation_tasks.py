"""domain-adaptation tasks through `.fn()`: load, encode, build, self-train, evaluate, and the summary table."""

from __future__ import annotations

import numpy as np
import pytest
from prefect.logging import disable_run_logger

from flows.domain_adaptation_config import ClassifierConfig, DataConfig, DomainsConfig, EncodeConfig, ESUOTConfig


@pytest.fixture(scope="module")
def moons_ref(session_home):
    from tasks.adaptation import load_task

    with disable_run_logger():
        return load_task.fn(DataConfig(dataset="rotated_moons", n_intermediate=1, n_per_domain=60), 0, {})


def test_load_stores_domains(moons_ref):
    from tasks.adaptation import read_domains

    data = read_domains(moons_ref)
    assert data.features.shape == (180, 2)
    assert data.domain_values == pytest.approx([0.0, 22.5, 45.0])
    assert moons_ref.kind == "adaptation-domains"


def test_encode_raw_passes_through_and_encoder_maps(moons_ref):
    from tasks.adaptation import encode_task, read_domains

    with disable_run_logger():
        assert encode_task.fn(moons_ref, EncodeConfig(features="raw"), ClassifierConfig(), 0, 1) == moons_ref
        encoded = encode_task.fn(moons_ref, EncodeConfig(features="encoder", dim=4, epochs=2), ClassifierConfig(), 0, 1)
    data = read_domains(encoded)
    assert data.features.shape == (180, 4)
    assert np.array_equal(data.labels, read_domains(moons_ref).labels)


@pytest.mark.parametrize("method", ["source_only", "gst", "goat", "esuot"])
def test_build_self_train_evaluate(moons_ref, method):
    from tasks.adaptation import build_task, evaluate_task, read_built, self_train_task

    classifier = ClassifierConfig(hidden=8, epochs=3, self_train_epochs=2)
    with disable_run_logger():
        built = build_task.fn(moons_ref, method, DomainsConfig(k=2), ESUOTConfig(iterations=5, hidden=8), 0, 1)
        model = self_train_task.fn(moons_ref, built, classifier, 0, 1)
        metrics = evaluate_task.fn(moons_ref, model, built)

    domains = read_built(built)
    expected = {"source_only": 0, "gst": 1, "goat": 2, "esuot": 2}[method]
    assert (0 if domains.generated is None else len(domains.generated.features)) == expected
    assert 0.0 <= metrics["target_test_accuracy"] <= 1.0
    assert 0.0 <= metrics["source_accuracy"] <= 1.0
    if method == "esuot":
        assert "esuot.objective_end" in metrics
    if method == "source_only":
        # No self-training: the stored classifier is the source classifier.
        assert metrics["target_test_accuracy"] == pytest.approx(metrics["target_test_accuracy_before"])


def test_load_rejects_target_class_absent_from_source(tmp_path):
    from components.errors import InputError
    from tasks.adaptation import load_task

    path = tmp_path / "shifted.npz"
    np.savez(path, features=np.zeros((6, 2)), labels=np.array([0, 0, 1, 1, 2, 2]), domain=np.array([0, 0, 0, 1, 1, 1]))
    with disable_run_logger(), pytest.raises(InputError, match=r"shifted\.npz, field 'labels': target has classes \[2\]"):
        load_task.fn(DataConfig(dataset="arrays", path=path), 0, {})


def test_summarise_mean_and_std():
    from tasks.adaptation import results_table, summarise

    results = {"esuot": {0: {"target_test_accuracy": 0.5}, 1: {"target_test_accuracy": 0.7}}}
    summary = summarise(results)
    assert summary["esuot.target_test_accuracy.mean"] == pytest.approx(0.6)
    assert summary["esuot.target_test_accuracy.std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert "| esuot | 0.600 ± 0.141 |" in results_table(results, summary)


def test_config_rejects_k_below_one():
    from components.errors import InputError
    from flows.config import load_config

    with pytest.raises(InputError, match=r"domains\.k.*greater than or equal to 1"):
        load_config("domain-adaptation", "smoke", ["domains.k=0"])
    with pytest.raises(InputError, match=r"esuot\.divergence"):
        load_config("domain-adaptation", "smoke", ["esuot.divergence=tv"])
    with pytest.raises(InputError, match=r"data\.path"):
        load_config("domain-adaptation", "smoke", ["data.dataset=arrays"])


def test_registry_stages_match_config():
    from flows.domain_adaptation_config import STAGES
    from flows.registry import flow_spec

    assert flow_spec("domain-adaptation").stages == STAGES
