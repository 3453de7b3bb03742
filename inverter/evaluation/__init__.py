"""The paper's quantitative results on an image folder: ``inverter evaluate`` as a library.

Every (image, representation layer, seed) is one task running the engine
(:mod:`.tasks`); results are written atomically as each finishes, so a run resumes
where it stopped (:mod:`.store`); tasks run in this process, in local worker processes
or on a Ray cluster (:mod:`.backends`, :mod:`.worker`); the table, the summary with
both of the paper's errors (:mod:`.statistics`), the plot (:mod:`.plot`) and a grid are
computed from the output folder alone (:mod:`.report`). ::

    from inverter.evaluation import EvaluationSpec, evaluate
    spec = EvaluationSpec("photos/", ("hog", "squeezenet1_1"), layers="all", seeds=(0, 1))
    evaluate(spec, "out/").summary["representations"][0]["cvpr_error"]["mean"]
"""
from .backends import BackendError, InProcess, LocalProcesses, RayCluster, choose_backend
from .paper import PAPER_CNN_BOUND, PAPER_HOGGLE, PAPER_TABLE1
from .report import REPORT_FILES, collect, write_report
from .runner import Progress, evaluate, evaluation_updates
from .statistics import Stats, cvpr_errors, cvpr_normalization, describe, ijcv_error
from .store import ResultStore, StoreError
from .tasks import ALL_LAYERS, IMAGE_SUFFIXES, TABLE_COLUMNS, EvaluationSpec, Plan, Task, list_images, plan_tasks

__all__ = [
    "ALL_LAYERS", "IMAGE_SUFFIXES", "TABLE_COLUMNS", "PAPER_CNN_BOUND", "PAPER_HOGGLE", "PAPER_TABLE1", "REPORT_FILES",
    "BackendError", "EvaluationSpec", "InProcess", "LocalProcesses", "Plan", "Progress", "RayCluster",
    "ResultStore", "Stats", "StoreError", "Task", "choose_backend", "collect", "cvpr_errors", "cvpr_normalization",
    "describe", "evaluate", "evaluation_updates", "ijcv_error", "list_images", "plan_tasks", "write_report",
]
