"""MLflow models-from-code entry: logged by path, so no pickled object travels with the model."""

import mlflow

from tasks.rm_pyfunc import RewardModelPyfunc

mlflow.models.set_model(RewardModelPyfunc())
