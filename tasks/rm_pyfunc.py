"""MLflow pyfunc wrapper and loader of the proof reward model."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from components.errors import InputError
from components.rm.model import ProofRewardModel


class RewardModelPyfunc(mlflow.pyfunc.PythonModel):
    """Scores a DataFrame with columns `question` and `steps` (list of strings) or `proof` (text).

    Returns a DataFrame with `score` (P(correct)), `step_scores` and `prediction`.
    """

    def load_context(self, context) -> None:
        self.model = ProofRewardModel.load(context.artifacts["checkpoint"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from components.proofs.steps import split_steps

        if "question" not in model_input:
            raise InputError("model input needs a 'question' column", field="question")
        if "steps" in model_input:
            steps = [list(s) for s in model_input["steps"]]
        elif "proof" in model_input:
            steps = [split_steps(text) for text in model_input["proof"]]
        else:
            raise InputError("model input needs a 'steps' or 'proof' column", field="steps")
        scores = self.model.score(list(zip(model_input["question"], steps)))
        return pd.DataFrame({
            "score": [s.outcome for s in scores],
            "step_scores": [s.steps for s in scores],
            "prediction": ["correct" if s.outcome >= self.model.threshold else "incorrect" for s in scores],
        })


def load_reward_model(uri: str) -> ProofRewardModel:
    """Load a reward model from a checkpoint folder or any MLflow model URI (runs:/, models:/, ...)."""
    path = Path(uri).expanduser()
    if path.exists():
        if (path / "config.json").exists():
            return ProofRewardModel.load(path)
        checkpoint = path / "artifacts" / "checkpoint"
        if checkpoint.exists():
            return ProofRewardModel.load(checkpoint)
        raise InputError("not a reward-model checkpoint or MLflow model folder", path=path)
    if ":" not in uri:
        raise InputError(f"model '{uri}' is neither an existing folder nor a model URI", field="--model",
                         hint="Use models:/proof-rm/<version>, runs:/<run_id>/reward_model or a checkpoint folder")
    try:
        loaded = mlflow.pyfunc.load_model(uri)
    except mlflow.exceptions.MlflowException as exc:
        raise InputError(f"cannot load model '{uri}': {exc.message}", field="--model") from exc
    return loaded.unwrap_python_model().model
