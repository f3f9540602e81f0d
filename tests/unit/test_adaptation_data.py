"""Domain data sets, the arrays loader's errors, self-training and the method runner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.adaptation.data import check_label_sets, load_arrays, rotated_moons, rotating_digits
from components.adaptation.esuot import ESUOTSettings
from components.adaptation.methods import METHODS, adapt_and_evaluate, build_domains
from components.adaptation.selftrain import TrainSettings, confident_subset, train_encoder
from components.errors import InputError


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_rotating_digits_layout():
    data = rotating_digits(target_angle=60.0, n_intermediate=3, seed=0)
    assert data.features.shape == (1797, 64)
    assert data.domain_values == pytest.approx([0.0, 15.0, 30.0, 45.0, 60.0])
    assert set(np.unique(data.domain)) == {0, 1, 2, 3, 4}
    assert data.features.min() >= 0.0
    assert data.features.max() <= 1.0
    # Only target samples are held out, and about 30% of them.
    assert not data.is_test[data.domain != 4].any()
    assert data.is_test[data.domain == 4].mean() == pytest.approx(0.3, abs=0.01)
    assert len(data.intermediates()) == 3


def test_rotating_digits_zero_angle_keeps_images():
    from sklearn.datasets import load_digits

    data = rotating_digits(target_angle=0.0, n_intermediate=0, seed=1)
    assert np.allclose(data.features, load_digits().data / 16.0, atol=1e-6)


def test_rotated_moons_rotation():
    data = rotated_moons(target_angle=90.0, n_intermediate=1, n_per_domain=200, noise=0.0, seed=0)
    source, target = data.source()[0], data.features[data.domain == 2]
    # A quarter turn swaps the spread of the two coordinates.
    assert source[:, 0].std() > source[:, 1].std()
    assert target[:, 1].std() > target[:, 0].std()


def save_arrays(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_load_arrays_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    path = save_arrays(tmp_path / "d.npz", features=rng.normal(size=(40, 3)), labels=np.arange(40) % 2,
                       domain=np.repeat([0, 1, 2], [20, 10, 10]), domain_values=np.array([0.0, 5.0, 10.0]))
    data = load_arrays(path, test_fraction=0.3)
    assert data.n_domains == 3
    assert data.domain_values == [0.0, 5.0, 10.0]
    assert data.is_test.sum() == 3
    assert len(data.intermediates()) == 1


@pytest.mark.parametrize(
    "arrays, pattern",
    [
        ({"features": np.zeros((4, 2)), "labels": np.zeros(4, int)}, r"field 'domain': missing array"),
        ({"features": np.zeros(4), "labels": np.zeros(4, int), "domain": np.zeros(4, int)}, r"expected a 2-D array"),
        ({"features": np.array([[0.0], [np.nan], [1.0]]), "labels": np.zeros(3, int), "domain": np.array([0, 1, 1])},
         r"features must be finite numbers \(first at row 1, column 0\)"),
        ({"features": np.zeros((3, 1)), "labels": np.zeros(3, int), "domain": np.array([0, 2, 2])},
         r"domain indices must be 0 \.\. D-1.*\[0, 2\]"),
        ({"features": np.zeros((3, 1)), "labels": np.array([0.5, 1, 1]), "domain": np.array([0, 1, 1])},
         r"field 'labels': must hold integers"),
        ({"features": np.zeros((4, 1)), "labels": np.array([0, 1, 1, 2]), "domain": np.array([0, 0, 1, 1])},
         r"target has classes \[2\] that the source does not have"),
    ],
)
def test_load_arrays_errors(tmp_path, arrays, pattern):
    path = save_arrays(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=pattern):
        load_arrays(path)


def test_load_arrays_missing_and_unreadable(tmp_path):
    with pytest.raises(InputError, match=r"missing\.npz: data file not found"):
        load_arrays(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(InputError, match=r"not a readable NumPy \.npz file"):
        load_arrays(tmp_path / "text.npz")


def test_intermediate_class_absent_from_source():
    data = rotated_moons(n_intermediate=1, n_per_domain=30, seed=0)
    data.labels[(data.domain == 1)] = 5
    with pytest.raises(InputError, match=r"intermediate domain 1 has classes \[5\]"):
        check_label_sets(data)


def test_confident_subset_keeps_most_confident():
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.6, 0.4]])
    assert confident_subset(probs, 0.5).tolist() == [0, 2]
    assert len(confident_subset(probs, 0.01)) == 1


def test_encoder_output_dimension():
    data = rotating_digits(target_angle=0.0, n_intermediate=0, seed=0)
    x, y = data.source()
    encoder = train_encoder(x, y, 10, 16, TrainSettings(epochs=2))
    assert encoder.encode(x[:5]).shape == (5, 16)


def test_gst_without_intermediates_rejected():
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(InputError, match=r"no real intermediate domains, so GST cannot run"):
        build_domains("gst", x, x, [], 2, ESUOTSettings())


@pytest.mark.slow
def test_every_method_runs_on_moons():
    # The moons at 60 degrees: the source classifier is poor on the target, and gradual
    # self-training through real domains helps. Every method returns valid accuracies.
    data = rotated_moons(target_angle=60.0, n_intermediate=3, n_per_domain=200, seed=0)
    settings = TrainSettings(hidden=32, epochs=30, self_train_epochs=10, seed=0)
    results = {}
    for method in METHODS:
        built = build_domains(method, data.source()[0], data.target()[0], data.intermediates(), 3,
                              ESUOTSettings(iterations=80, hidden=32, seed=0))
        results[method] = adapt_and_evaluate(built, data.source(), data.target(), data.target(test=True), 2, settings)
    for method, metrics in results.items():
        assert 0.0 <= metrics["target_test_accuracy"] <= 1.0, method
    assert results["source_only"]["domains"] == 0
    assert results["esuot"]["domains"] == 4  # K = 3 generated domains, then the target
    assert results["gst"]["target_accuracy"] > results["source_only"]["target_accuracy"]
