"""Stages of the domain-adaptation pipeline: load, encode, build domains, self-train, evaluate, report."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from prefect import task
from prefect.logging import get_run_logger

from components.adaptation.data import DomainData, check_label_sets, load_arrays, rotated_moons, rotating_digits
from components.adaptation.domains import GeneratedDomains
from components.adaptation.esuot import ESUOTSettings
from components.adaptation.methods import BuiltDomains, adapt_and_evaluate, build_domains
from components.adaptation.selftrain import Classifier, TrainSettings, accuracy, train_encoder
from components.artifacts import ArtifactRef, ArtifactStore
from flows.domain_adaptation_config import ClassifierConfig, DataConfig, DomainsConfig, EncodeConfig, ESUOTConfig
from flows.settings import project_home
from tasks.caching import STAGE_CACHE


def _store() -> ArtifactStore:
    return ArtifactStore(project_home())


def _array(values: np.ndarray) -> list:
    return np.round(values.astype(np.float64), 6).tolist()


def save_domains(data: DomainData) -> ArtifactRef:
    return _store().put_json("adaptation-domains", {
        "name": data.name, "domain_values": data.domain_values, "features": _array(data.features),
        "labels": data.labels.tolist(), "domain": data.domain.tolist(), "is_test": data.is_test.tolist(),
    })


def read_domains(ref: ArtifactRef) -> DomainData:
    raw = _store().read_json(ref)
    return DomainData(raw["name"], np.asarray(raw["features"], dtype=np.float32), np.asarray(raw["labels"], dtype=np.int64),
                      np.asarray(raw["domain"], dtype=np.int64), np.asarray(raw["is_test"], dtype=bool), raw["domain_values"])


def read_built(ref: ArtifactRef) -> BuiltDomains:
    raw = _store().read_json(ref)
    generated = None
    if raw["features"] is not None:
        generated = GeneratedDomains([np.asarray(x, dtype=np.float32) for x in raw["features"]],
                                     [np.asarray(w) for w in raw["weights"]], raw["times"])
    return BuiltDomains(raw["method"], generated, raw["seconds"], raw["diagnostics"], raw["history"])


def train_settings(classifier: ClassifierConfig, seed: int) -> TrainSettings:
    return TrainSettings(**classifier.model_dump(), seed=seed)


@task(name="load", cache_policy=STAGE_CACHE, persist_result=True)
def load_task(data: DataConfig, seed: int, fingerprints: dict[str, str]) -> ArtifactRef:
    """Build or read the domains of one seed's data set and store them."""
    logger = get_run_logger()
    if data.dataset == "rotating_digits":
        domains = rotating_digits(data.target_angle, data.n_intermediate, test_fraction=data.test_fraction, seed=seed)
    elif data.dataset == "rotated_moons":
        domains = rotated_moons(data.target_angle, data.n_intermediate, data.n_per_domain, data.noise,
                                data.test_fraction, seed=seed)
    else:
        domains = load_arrays(data.path, data.test_fraction, seed=seed)
    check_label_sets(domains, str(data.path) if data.path else domains.name)
    counts = np.bincount(domains.domain).tolist()
    logger.info("%s (seed %d): %d samples, %d features, samples per domain %s", domains.name, seed,
                len(domains.labels), domains.features.shape[1], counts)
    return save_domains(domains)


@task(name="encode", cache_policy=STAGE_CACHE, persist_result=True)
def encode_task(domains_ref: ArtifactRef, encode: EncodeConfig, classifier: ClassifierConfig, seed: int, threads: int) -> ArtifactRef:
    """Map every sample to the feature space of adaptation: raw, or an encoder trained on the source only."""
    if encode.features == "raw":
        return domains_ref
    torch.set_num_threads(threads)
    data = read_domains(domains_ref)
    x, y = data.source()
    settings = TrainSettings(**{**classifier.model_dump(), "epochs": encode.epochs}, seed=seed)
    encoder = train_encoder(x, y, int(y.max()) + 1, encode.dim, settings)
    get_run_logger().info("encoder: %d -> %d features", x.shape[1], encode.dim)
    data.features = encoder.encode(data.features).astype(np.float32)
    return save_domains(data)


@task(name="build", cache_policy=STAGE_CACHE, persist_result=True)
def build_task(encoded_ref: ArtifactRef, method: str, domains: DomainsConfig, esuot: ESUOTConfig, seed: int,
               threads: int) -> ArtifactRef:
    """Build the intermediate domains of one method and store them with their diagnostics."""
    torch.set_num_threads(threads)
    data = read_domains(encoded_ref)
    settings = ESUOTSettings(**esuot.model_dump(), seed=seed)
    built = build_domains(method, data.source()[0], data.target()[0], data.intermediates(), domains.k, settings)
    if built.diagnostics.get("diverged"):
        get_run_logger().warning("E-SUOT diverged for seed %d; the last finite state was used", seed)
    generated = built.generated
    return _store().put_json("adaptation-built", {
        "method": method, "seconds": built.seconds, "diagnostics": built.diagnostics, "history": built.history,
        "features": None if generated is None else [_array(x) for x in generated.features],
        "weights": None if generated is None else [_array(w) for w in generated.weights],
        "times": None if generated is None else generated.times,
    })


@task(name="self_train", cache_policy=STAGE_CACHE, persist_result=True)
def self_train_task(encoded_ref: ArtifactRef, built_ref: ArtifactRef, classifier: ClassifierConfig, seed: int,
                    threads: int) -> ArtifactRef:
    """Train on the source, self-train through the method's domains and the target; store the classifier."""
    torch.set_num_threads(threads)
    data = read_domains(encoded_ref)
    built = read_built(built_ref)
    n_classes = int(data.labels[data.domain == 0].max()) + 1
    settings = train_settings(classifier, seed)
    model_holder: dict[str, Any] = {}
    metrics = adapt_and_evaluate(built, data.source(), data.target(), data.target(test=True), n_classes, settings,
                                 keep=model_holder)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "classifier"
        folder.mkdir()
        torch.save(model_holder["model"].state_dict(), folder / "model.pt")
        (folder / "meta.json").write_text(json.dumps({"dim": data.features.shape[1], "n_classes": n_classes,
                                                      "hidden": classifier.hidden, "training": metrics}, sort_keys=True))
        return _store().put_directory("adaptation-classifier", folder)


@task(name="evaluate", cache_policy=STAGE_CACHE, persist_result=True)
def evaluate_task(encoded_ref: ArtifactRef, classifier_ref: ArtifactRef, built_ref: ArtifactRef) -> dict[str, float]:
    """Return target accuracies of the adapted classifier (adaptation part and held-out part) and costs."""
    data = read_domains(encoded_ref)
    folder = _store().resolve(classifier_ref)
    meta = json.loads((folder / "meta.json").read_text())
    model = Classifier(meta["dim"], meta["n_classes"], meta["hidden"])
    model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    built = read_built(built_ref)
    metrics = {
        "source_accuracy": accuracy(model, *data.source()),
        "target_accuracy": accuracy(model, *data.target()),
        "target_test_accuracy": accuracy(model, *data.target(test=True)),
        "target_test_accuracy_before": meta["training"]["target_test_accuracy_before"],
        "build_seconds": built.seconds,
        "self_train_seconds": meta["training"]["self_train_seconds"],
    }
    metrics.update({f"esuot.{k}": float(v) for k, v in built.diagnostics.items()})
    return metrics


def summarise(results: dict[str, dict[int, dict[str, float]]]) -> dict[str, float]:
    """Return mean and sample standard deviation over seeds of every metric, as `<method>.<metric>.mean|std`."""
    summary: dict[str, float] = {}
    for method, by_seed in results.items():
        names = sorted({name for metrics in by_seed.values() for name in metrics})
        for name in names:
            values = np.array([m[name] for m in by_seed.values() if name in m and math.isfinite(m[name])])
            if len(values):
                summary[f"{method}.{name}.mean"] = float(values.mean())
                summary[f"{method}.{name}.std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return summary


def results_table(results: dict[str, dict[int, dict[str, float]]], summary: dict[str, float]) -> str:
    """Return a Markdown table: one row per method, target accuracies as mean +- std over seeds."""
    lines = ["| method | target test accuracy | target accuracy (adaptation part) | accuracy before self-training | seeds |",
             "|---|---|---|---|---|"]
    for method, by_seed in results.items():
        def cell(name: str, digits: int = 3) -> str:
            mean, std = summary.get(f"{method}.{name}.mean"), summary.get(f"{method}.{name}.std")
            return "n/a" if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"
        lines.append(f"| {method} | {cell('target_test_accuracy')} | {cell('target_accuracy')} | "
                     f"{cell('target_test_accuracy_before')} | {len(by_seed)} |")
    return "\n".join(lines) + "\n"


@task(name="report")
def report_task(run_id: str, results: dict[str, dict[int, dict[str, float]]], encoded: dict[int, ArtifactRef],
                built: dict[str, dict[int, ArtifactRef]]) -> dict[str, Any]:
    """Log per-seed metrics, their mean and std, the E-SUOT objective curves, the table and the domain plots to MLflow."""
    import matplotlib.pyplot as plt
    from mlflow.tracking import MlflowClient

    from components.adaptation.plots import domains_figure, objective_figure
    from tasks.tracking import log_metrics

    client = MlflowClient()
    summary = summarise(results)
    for method, by_seed in results.items():
        for seed, metrics in by_seed.items():
            log_metrics(run_id, {f"{method}.seed{seed}.{k}": v for k, v in metrics.items()})
    log_metrics(run_id, summary)

    # The semi-dual objective per evaluation step, one metric per seed.
    histories = {f"seed {seed}": read_built(ref).history for seed, ref in built.get("esuot", {}).items()}
    for seed, ref in built.get("esuot", {}).items():
        for entry in read_built(ref).history:
            log_metrics(run_id, {f"esuot.seed{seed}.objective": entry["objective"]}, step=int(entry["step"]))

    table = results_table(results, summary)
    client.log_text(run_id, table, "results.md")
    client.log_dict(run_id, {m: {str(s): v for s, v in by_seed.items()} for m, by_seed in results.items()}, "results.json")

    # Projections of the generated (or real) intermediate domains for every seed.
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "plots"
        folder.mkdir()
        for method, by_seed in built.items():
            for seed, ref in by_seed.items():
                domains = read_built(ref)
                if domains.generated is None:
                    continue
                data = read_domains(encoded[seed])
                figure = domains_figure(data.source()[0], data.target()[0], domains.generated.features,
                                        f"{method}: {data.name}, seed {seed}", seed=seed)
                figure.savefig(folder / f"domains_{method}_seed{seed}.png", dpi=110)
                plt.close(figure)
        if histories:
            figure = objective_figure(histories)
            figure.savefig(folder / "esuot_objective.png", dpi=110)
            plt.close(figure)
        plots = _store().put_directory("adaptation-plots", folder)
    client.log_artifacts(run_id, str(_store().resolve(plots)), "plots")
    return {"summary": summary, "table": table, "plots": str(_store().resolve(plots))}
