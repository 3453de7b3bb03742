"""The paper's experiments as one-click views: layer sweeps, restarts, receptive fields,
channel subsets and regulariser sweeps.

Each experiment is described by an :class:`ExperimentSpec`; :func:`experiment_updates`
streams :class:`ExperimentUpdate` s (a UI draws ``update.grid()``), and
:func:`run_experiment` runs to the end and returns an :class:`ExperimentResult`, whose
:meth:`~ExperimentResult.save` writes the grid PNG and a JSON that
:func:`run_from_json` repeats.

Example::

    from inverter.experiments import ExperimentSpec, run_experiment
    spec = ExperimentSpec("restarts", "alexnet:pool5", config={"iterations": 200}, params={"restarts": 4})
    result = run_experiment(spec)
    result.save("out/")          # out/restarts.png, out/restarts.json
"""
from .export import is_experiment_json, run_from_json, spec_from_json
from .kinds import KINDS, ExperimentKind, get_kind, list_experiments, tv_lambda_for_beta
from .result import ExperimentResult, ExperimentUpdate, compose_grid
from .runner import Plan, experiment_updates, plan_experiment, resolve_layers, run_experiment
from .spec import EXAMPLE_IMAGES, ExperimentError, ExperimentSpec, Panel, load_source_image

__all__ = [
    "EXAMPLE_IMAGES", "KINDS", "ExperimentError", "ExperimentKind", "ExperimentResult", "ExperimentSpec",
    "ExperimentUpdate", "Panel", "Plan", "compose_grid", "experiment_updates", "get_kind", "is_experiment_json",
    "list_experiments", "load_source_image", "plan_experiment", "resolve_layers", "run_experiment", "run_from_json",
    "spec_from_json", "tv_lambda_for_beta",
]
