"""Presets, `--set` overrides and their errors."""

from __future__ import annotations

import pytest

from components.errors import InputError
from flows.config import GenerationMethod, load_config, parse_override


@pytest.mark.parametrize("preset", ["smoke", "default", "paper"])
def test_proof_rm_presets_validate(preset):
    config = load_config("proof-rm", preset)
    assert config.preset == preset


def test_override_types_from_yaml():
    assert parse_override("train.epochs=5") == (["train", "epochs"], 5)
    assert parse_override("eval.baselines=false") == (["eval", "baselines"], False)
    assert parse_override("sources.topics=[algebra, geometry]") == (["sources", "topics"], ["algebra", "geometry"])


def test_override_sets_nested_value():
    config = load_config("proof-rm", "smoke", ["train.epochs=7", "model.pooling=mean"])
    assert config.train.epochs == 7
    assert config.model.pooling == "mean"


def test_override_updates_one_mapping_entry():
    config = load_config("proof-rm", "smoke", ["generation.methods.rephrase=3"])
    assert config.generation.methods[GenerationMethod.REPHRASE] == 3
    assert config.generation.methods[GenerationMethod.AUGMENT] == 1


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("train.epochz=1", r"unknown key 'epochz' in train; valid keys: .*epochs"),
        ("nope=1", r"unknown key 'nope' in config"),
        ("train.epochs=0", r"field 'train\.epochs'.*greater than or equal to 1"),
        ("train.lr=.nan", r"field 'train\.lr'"),
        ("model.d_model=33", r"divisible by n_heads"),
        ("train.epochs.x=1", r"'epochs' is a value, not a section"),
        ("train.epochs", r"--set expects key=value"),
        ("generation.methods.error_injection=1", r"not a correct-variant method"),
    ],
)
def test_invalid_override_names_field(override, pattern):
    with pytest.raises(InputError, match=pattern):
        load_config("proof-rm", "smoke", [override])


def test_unknown_preset_lists_available():
    with pytest.raises(InputError, match=r"preset 'huge' not found.*default, paper, smoke"):
        load_config("proof-rm", "huge")


def test_refresh_must_be_a_stage():
    assert load_config("proof-rm", "smoke", refresh="train").refresh == "train"
    with pytest.raises(InputError, match="refresh"):
        load_config("proof-rm", "smoke", refresh="fit")
