"""Flow configuration: pydantic models, YAML presets and `--set` overrides.

Each flow takes one config model as its only parameter, so Prefect validates
it and its UI renders it. Presets live in `configs/<flow>/<preset>.yaml`.
Every model forbids unknown keys, so a misspelt `--set` key is an error that
lists the valid ones instead of a silently ignored setting.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components.errors import InputError
from components.io import validation_to_input_error
from components.proofs.schema import ErrorType, GenerationMethod
from flows.settings import PROJECT_ROOT

CONFIG_DIR = PROJECT_ROOT / "configs"

INJECTED_ERROR_TYPES = [
    ErrorType.COMPUTATIONAL_SLIP,
    ErrorType.SIGN_ERROR,
    ErrorType.UNJUSTIFIED_CLAIM,
    ErrorType.SKIPPED_CASE,
    ErrorType.CIRCULAR_REASONING,
    ErrorType.MISAPPLIED_THEOREM,
    ErrorType.GENERALIZATION_FROM_EXAMPLES,
    ErrorType.DROPPED_CONDITION,
]


class StrictModel(BaseModel):
    """Base for config sections: unknown keys and NaN are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)


def _existing_paths(paths: list[Path]) -> list[Path]:
    for path in paths:
        if not path.exists():
            raise ValueError(f"path '{path}' does not exist; check the path or remove it from the list")
    return paths


class SourcesConfig(StrictModel):
    """Problem sources."""

    builtin: bool = Field(True, description="use the built-in bank of proof problems")
    topics: list[str] | None = Field(None, description="restrict the built-in bank to these topics")
    problems: list[Path] = Field(
        default_factory=list,
        description="problem files: IMO-ProofBench CSV, Open Proof Corpus parquet, or problems JSONL",
    )
    shared_imo_proofbench: bool = Field(
        True, description="add IMO-ProofBench from the shared data folder when it is present"
    )
    max_problems: int | None = Field(None, ge=1, description="keep at most this many problems (after sorting by id)")

    _problems_exist = field_validator("problems")(_existing_paths)


class LLMModelConfig(StrictModel):
    """A language model and its sampling settings."""

    name: str = Field("auto", min_length=1, description="model name on the server, or a local folder for backend hf; "
                      "'auto' takes the first model that GET {base_url}/models lists")
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1, le=32768, description="completion length limit in tokens")
    seed: int | None = Field(0, description="sampling seed sent to servers that honour one")
    cost_per_1k_prompt: float = Field(0.0, ge=0.0, description="price per 1000 prompt tokens, for cost accounting")
    cost_per_1k_completion: float = Field(0.0, ge=0.0, description="price per 1000 completion tokens")


class LLMConnectionConfig(StrictModel):
    """How to reach a language model: an OpenAI-compatible server (backend openai) or a local HF folder (backend hf)."""

    backend: Literal["embedded", "openai", "hf"] = Field(
        "embedded", description="embedded rules (no network), openai (any OpenAI-compatible server) or hf (local model)"
    )
    base_url: str = Field("http://127.0.0.1:8000/v1", min_length=1, description="OpenAI-compatible API root, ending in /v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key (empty: none)")
    timeout_s: float = Field(120.0, gt=0.0, le=3600.0, description="per-request timeout in seconds")
    max_retries: int = Field(3, ge=0, le=10, description="retries after a 429, a 5xx, a timeout or a refused connection")
    backoff_s: float = Field(1.0, ge=0.0, le=60.0, description="first retry delay in seconds; doubles on each retry")
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight at a time")
    device: str = Field("auto", description="backend hf: auto, cpu, cuda, cuda:N or mps")
    batch_size: int = Field(8, ge=1, le=512, description="backend hf: prompts per generate call")
    cache: bool = Field(True, description="reuse stored replies for identical model, prompt and sampling settings")


class GenerationConfig(LLMConnectionConfig):
    """Proof generation: which methods and error types, how many of each, and with which models."""

    methods: dict[GenerationMethod, int] = Field(
        default_factory=lambda: {
            GenerationMethod.REPHRASE: 1,
            GenerationMethod.AUGMENT: 1,
            GenerationMethod.MASK_COMPLETION: 1,
        },
        description="correct variants per problem for each method",
    )
    error_types: list[ErrorType] = Field(default_factory=lambda: list(INJECTED_ERROR_TYPES), min_length=1)
    errors_per_problem: int = Field(4, ge=0, le=32, description="incorrect variants per problem")
    seed: int = 0
    models: list[LLMModelConfig] = Field(
        default_factory=lambda: [LLMModelConfig()], min_length=1,
        description="backends openai and hf: models to spread the work over, each with its sampling settings",
    )
    templates: dict[str, Path] = Field(
        default_factory=dict, description="prompt template file per method, replacing those in components/proofs/prompts"
    )
    dedup_threshold: float = Field(
        0.9, gt=0.0, le=1.0, description="estimated Jaccard similarity at which two proofs count as near duplicates"
    )

    @field_validator("methods")
    @classmethod
    def _counts(cls, methods: dict[GenerationMethod, int]) -> dict[GenerationMethod, int]:
        for method, count in methods.items():
            if not 0 <= count <= 32:
                raise ValueError(f"count for method '{method.value}' is {count}; allowed range is 0..32")
            if method in (GenerationMethod.ERROR_INJECTION, GenerationMethod.IMPORTED, GenerationMethod.REFERENCE):
                raise ValueError(
                    f"method '{method.value}' is not a correct-variant method; use errors_per_problem for injected errors"
                )
        return methods


class PrecheckConfig(LLMConnectionConfig):
    """Automatic check of every triplet before human review: embedded rules or a language-model judge."""

    model: LLMModelConfig = Field(default_factory=LLMModelConfig, description="judge model and sampling settings")
    samples: int = Field(3, ge=1, le=15, description="judge samples per proof; the verdict is their majority")
    prompt: Path | None = Field(None, description="judge prompt template; default components/proofs/prompts/judge.txt")
    rubric: Path | None = Field(None, description="judge rubric; default components/proofs/prompts/judge_rubric.md")


class ReviewConfig(StrictModel):
    """Human review queue and the policy that decides what trains the model."""

    policy: Literal["auto", "human"] = Field(
        "auto",
        description="auto: keep construction labels that the pre-check confirms, queue the rest for humans "
        "and include items whose review is final. human: queue every triplet, pause the flow until "
        "`required_final` of them are final, then train on the final ones only",
    )
    store: str = Field(
        "review.db",
        description="review store: an SQLite file relative to the project home, or a "
        "postgresql://user@host:port/database URL whose password comes from PGPASSWORD or ~/.pgpass",
    )
    audit_fraction: float = Field(
        0.05, ge=0.0, le=1.0,
        description="auto: share of pre-check-confirmed items also queued for human audit; they train unless a "
        "final review overrules them",
    )
    audit_seed: int = 0
    double_review_fraction: float = Field(
        0.0, ge=0.0, le=1.0,
        description="share of queued items labelled blind by two level-1 reviewers (Cohen's kappa in the stats)",
    )
    gold_fraction: float = Field(
        0.0, ge=0.0, le=1.0,
        description="share of pre-check-confirmed items queued as gold items, to measure each reviewer's accuracy",
    )
    required_final: int = Field(
        200, ge=1, description="human: number of this run's items that must be final before training starts"
    )
    wait_timeout_s: float = Field(
        7 * 24 * 3600.0, gt=0.0, le=90 * 24 * 3600.0,
        description="human: the flow run fails when the items are not final after this many seconds of waiting",
    )
    poll_s: float = Field(
        10.0, gt=0.0, le=3600.0, description="human: seconds between checks of the review store while paused"
    )

    @field_validator("store", mode="before")
    @classmethod
    def _store_path_or_url(cls, value: Any) -> str:
        from components.review.database import has_password, parse_target

        if isinstance(value, Path):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"expected a file path or a postgresql:// URL, got {value!r:.80}")
        target = parse_target(value, field=None)  # raises on an unsupported scheme
        if target.url is not None and has_password(target.url):
            raise ValueError(
                "the store URL contains a password, and the run configuration is logged to MLflow; "
                "remove it from the URL and set PGPASSWORD or a ~/.pgpass entry instead"
            )
        return value


class SplitConfig(StrictModel):
    """Train, validation and test splits by problem."""

    val_fraction: float = Field(0.15, ge=0.0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    seed: int = 0


class ModelConfig(StrictModel):
    """Reward-model architecture."""

    encoder: str = Field("embedded:all-MiniLM-L6-v2", description="embedded default or a local HF model folder")
    pooling: Literal["mean", "attention"] = Field(
        "attention", description="step vector: mean of token states, or mean plus learned attention pooling"
    )
    max_length: int = Field(128, ge=16, le=512, description="encoder window in tokens; longer steps are windowed")
    stride: int = Field(32, ge=0, le=256, description="token overlap between windows of a long step")
    trainable_layers: int = Field(0, ge=0, le=24, description="top encoder layers to fine-tune (0 = frozen)")
    d_model: int = Field(256, ge=16, le=2048)
    n_layers: int = Field(2, ge=1, le=12)
    n_heads: int = Field(4, ge=1, le=32)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _heads_divide(self) -> "ModelConfig":
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.stride >= self.max_length - 2:
            raise ValueError(f"stride ({self.stride}) must be below max_length - 2 ({self.max_length - 2})")
        return self


class TrainConfig(StrictModel):
    """Optimisation of the reward model."""

    epochs: int = Field(10, ge=1, le=1000)
    batch_size: int = Field(16, ge=1, le=1024)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    encoder_lr: float = Field(2e-5, gt=0.0, le=1.0)
    weight_decay: float = Field(0.01, ge=0.0, le=1.0)
    process_weight: float = Field(0.5, ge=0.0, le=100.0, description="lambda of the step-level loss")
    grad_clip: float = Field(1.0, gt=0.0)
    seed: int = 0


class EvalConfig(StrictModel):
    """Evaluation data and baselines."""

    external: list[Path] = Field(
        default_factory=list, description="human-labelled data: Open Proof Corpus parquet, PRMBench JSONL or folder, triplets JSONL"
    )
    shared_external: bool = Field(
        True, description="add OPC and PRMBench from the shared data folder when present"
    )
    max_external: int | None = Field(None, ge=1, description="evaluate on at most this many records per external set")
    baselines: bool = Field(True, description="also evaluate majority, random and TF-IDF baselines")
    batch_size: int = Field(16, ge=1, le=1024)

    _external_exist = field_validator("external")(_existing_paths)


class TrackingConfig(StrictModel):
    """MLflow names."""

    experiment: str = Field("proof-rm", min_length=1)
    registered_model: str = Field("proof-rm", min_length=1)


STAGES = ("load", "generate", "precheck", "review", "splits", "version", "train", "evaluate", "register")


class ProofRMConfig(StrictModel):
    """Configuration of the proof-rm pipeline."""

    preset: str = Field("default", description="name of the preset this config came from")
    shared_data: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data", description="folder with the public data sets, used when present"
    )
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    precheck: PrecheckConfig = Field(default_factory=PrecheckConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    splits: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    refresh: Literal[STAGES] | None = Field(  # type: ignore[valid-type]
        None, description="force this stage and every later one to recompute"
    )


def preset_path(flow: str, preset: str) -> Path:
    return CONFIG_DIR / flow / f"{preset}.yaml"


def available_presets(flow: str) -> list[str]:
    return sorted(path.stem for path in (CONFIG_DIR / flow).glob("*.yaml"))


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse `a.b.c=value`; the value is read as YAML, so numbers, booleans and lists get their types."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set expects key=value, got {item!r}", field="--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise InputError(f"value {raw!r} is not valid YAML ({exc})", field=key) from exc
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"value {raw!r} is not a finite number", field=key)
    return key.strip().split("."), value


def apply_override(data: dict[str, Any], model: type[BaseModel], keys: list[str], value: Any) -> None:
    """Set data[k1][k2]... = value, checking each key against the model's fields."""
    node, current = data, model
    for depth, key in enumerate(keys):
        fields = current.model_fields
        if key not in fields:
            dotted = ".".join(keys[:depth]) or "config"
            raise InputError(
                f"unknown key '{key}' in {dotted}; valid keys: {', '.join(sorted(fields))}",
                field=".".join(keys),
            )
        if depth == len(keys) - 1:
            node[key] = value
            return
        annotation = fields[key].annotation
        if get_origin(annotation) is dict and depth == len(keys) - 2:
            # A mapping field (such as a learning rate per optimizer): update one entry, keep the others.
            mapping = node.get(key)
            if mapping is None:
                mapping = dict(fields[key].get_default(call_default_factory=True) or {})
            if not isinstance(mapping, dict):
                raise InputError(f"'{key}' in the preset is not a mapping", field=".".join(keys))
            node[key] = {**mapping, keys[-1]: value}
            return
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise InputError(f"'{key}' is a value, not a section", field=".".join(keys))
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise InputError(f"'{key}' in the preset is not a mapping", field=".".join(keys))
        current = annotation


def load_config(flow: str, preset: str = "default", overrides: list[str] = (), refresh: str | None = None) -> StrictModel:
    """Build a validated config from a preset file and `--set` overrides."""
    from flows.registry import flow_spec, load_attribute

    model = load_attribute(flow_spec(flow).config)
    path = preset_path(flow, preset)
    if not path.exists():
        raise InputError(
            f"preset '{preset}' not found for flow {flow}",
            path=path,
            hint=f"Available presets: {', '.join(available_presets(flow))}",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML ({exc})", path=path) from exc
    if not isinstance(data, dict):
        raise InputError("a preset must be a YAML mapping", path=path)
    data.setdefault("preset", preset)

    for item in overrides:
        keys, value = parse_override(item)
        apply_override(data, model, keys, value)
    if refresh is not None:
        data["refresh"] = refresh

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_to_input_error(exc, path=path if not overrides else None) from exc
