"""The paper's numbers that an evaluation is compared with (``../shared/PAPER.md``).

CVPR 2015 Table 1: the CVPR error (see :mod:`inverter.evaluation.statistics`), in %,
mean ± std over the first 100 ImageNet validation images, 800 steps per image.
"""
from __future__ import annotations

#: CVPR 2015 Table 1, reconstruction error in % (mean, std), by this package's family name.
PAPER_TABLE1: dict[str, tuple[float, float]] = {
    "hog": (28.10, 7.9),
    "hogb": (10.67, 5.2),
    "dsift": (10.89, 7.5),
}
#: HOGgle (Vondrick et al.), Table 1's dictionary method for HOG, for context (%, mean and std).
PAPER_HOGGLE: tuple[float, float] = (66.20, 13.7)
#: The families HOGgle's number applies to (it inverts HOG).
HOGGLE_FAMILIES = ("hog", "hogb")
#: The paper's claim for CNN layers (AlexNet): normalised error under about this many % at every layer.
PAPER_CNN_BOUND = 20.0
#: The family the CNN claim is about.
PAPER_CNN_FAMILY = "alexnet"


def paper_text(family: str, hoggle: bool = True) -> str:
    """What the paper reports for ``family`` (CVPR error, %; with HOGgle's for HOG when
    ``hoggle``), ``"–"`` when it reports nothing."""
    if family in PAPER_TABLE1:
        mean, std = PAPER_TABLE1[family]
        text = f"{mean:.2f} ± {std:.1f}"
        if hoggle and family in HOGGLE_FAMILIES:
            text += f" (HOGgle {PAPER_HOGGLE[0]:.2f} ± {PAPER_HOGGLE[1]:.1f})"
        return text
    if family == PAPER_CNN_FAMILY:
        return f"< ~{PAPER_CNN_BOUND:.0f} at every layer"
    return "–"
