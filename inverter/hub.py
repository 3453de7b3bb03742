"""Pretrained weights from the Hugging Face Hub (or a local file), as safetensors only.

Nothing is ever unpickled. Every source is data in :data:`SOURCES`: a repo, a file, a
revision and the key mapping onto torchvision's layout, so a source can change without
code changes. Downloads go through :func:`huggingface_hub.hf_hub_download`, which honours
``HF_HOME``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE``. A failure is a :class:`WeightsError`
that names the repo and file and how to fix it; there is no fallback to random weights.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch


class WeightsError(RuntimeError):
    """Pretrained weights could not be had, or do not fit the model."""


@dataclass(frozen=True)
class WeightSource:
    """Where a family's weights live and how their keys map onto torchvision's.

    Attributes:
        repo_id: Hub model repo (``"timm/vgg16.tv_in1k"``).
        filename: a ``.safetensors`` file in it.
        revision: branch, tag or commit; ``None`` = ``main``.
        rename: ``(regex, replacement)`` rules applied in order to every key.
        reshape: ``(torchvision key, shape)`` pairs to reshape after renaming.
    """

    repo_id: str
    filename: str
    revision: str | None = None
    rename: tuple[tuple[str, str], ...] = ()
    reshape: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def label(self) -> str:
        """``repo_id/filename@revision`` for messages."""
        return f"{self.repo_id}/{self.filename}" + (f"@{self.revision}" if self.revision else "")


#: Common prefixes of exported state dicts, dropped before matching.
_STRIP_PREFIXES = ((r"^(module|model)\.", ""),)

#: The default weights of every CNN family. Keys of the AlexNet and SqueezeNet copies are
#: not confirmed: they are checked key by key against the model when loaded.
SOURCES: dict[str, WeightSource] = {
    "alexnet": WeightSource("theunnecessarythings/vision_models", "alexnet.safetensors", rename=_STRIP_PREFIXES),
    "vgg16": WeightSource(
        "timm/vgg16.tv_in1k",
        "model.safetensors",
        rename=_STRIP_PREFIXES
        + (
            (r"^pre_logits\.fc1\.", "classifier.0."),
            (r"^pre_logits\.fc2\.", "classifier.3."),
            (r"^head\.fc\.", "classifier.6."),
        ),
        reshape=(("classifier.0.weight", (4096, 25088)), ("classifier.3.weight", (4096, 4096))),
    ),
    "squeezenet1_1": WeightSource(
        "theunnecessarythings/vision_models", "squeezenet1_1.safetensors", rename=_STRIP_PREFIXES
    ),
}

_CACHE: dict[tuple, dict[str, torch.Tensor]] = {}
_LOCK = threading.Lock()


def parse_hub_spec(spec: str) -> WeightSource:
    """``"hf://org/repo/path/file.safetensors[@rev]"`` → a :class:`WeightSource`."""
    body = spec[len("hf://") :]
    body, _, revision = body.partition("@")
    parts = body.split("/")
    if len(parts) < 3 or not parts[-1].endswith(".safetensors"):
        raise WeightsError(f"bad Hub weights spec {spec!r}: use hf://ORG/REPO/FILE.safetensors[@REVISION]")
    return WeightSource("/".join(parts[:2]), "/".join(parts[2:]), revision or None)


def download(source: WeightSource) -> Path:
    """The local path of ``source``'s file, downloading it into the Hub cache if needed.

    Raises:
        WeightsError: the download failed; the message says what and how to fix it.
    """
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(source.repo_id, source.filename, revision=source.revision))
    except Exception as err:  # network, offline cache miss, missing repo/file, auth: all fatal here
        raise WeightsError(
            f"could not get weights {source.filename!r} from Hugging Face Hub repo {source.repo_id!r}"
            f" ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'}). "
            "Fix: connect to the internet, or pre-download it into the Hub cache "
            f"(hf download {source.repo_id} {source.filename}"
            + (f" --revision {source.revision}" if source.revision else "")
            + ") and set HF_HUB_OFFLINE=1, "
            "or pass a local .safetensors file with --weights PATH."
        ) from err


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a ``.safetensors`` file (CPU).

    Raises:
        WeightsError: missing file or not a safetensors file.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        return load_file(str(path))
    except Exception as err:
        raise WeightsError(f"{path} is not a readable .safetensors file ({err})") from err


def map_keys(state: Mapping[str, torch.Tensor], source: WeightSource) -> dict[str, torch.Tensor]:
    """Apply ``source``'s renaming and reshaping rules to a state dict."""
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        for pattern, replacement in source.rename:
            key = re.sub(pattern, replacement, key)
        mapped[key] = tensor
    for key, shape in source.reshape:
        if key in mapped and mapped[key].numel() == torch.Size(shape).numel():
            mapped[key] = mapped[key].reshape(shape)
    return mapped


def check_state_dict(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Size],
    required: set[str],
    what: str,
) -> None:
    """Every key of ``state`` must be a key of ``expected`` with the same shape, and
    every ``required`` key must be present.

    Raises:
        WeightsError: listing unexpected, missing and mis-shaped keys (first few of each).
    """
    unexpected = sorted(k for k in state if k not in expected)
    missing = sorted(k for k in required if k not in state)
    misshaped = sorted(
        f"{k} {tuple(state[k].shape)} ≠ {tuple(expected[k])}"
        for k in state
        if k in expected and tuple(state[k].shape) != tuple(expected[k])
    )
    problems = []
    for label, items in (("unexpected keys", unexpected), ("missing keys", missing), ("wrong shapes", misshaped)):
        if items:
            more = f" … (+{len(items) - 5})" if len(items) > 5 else ""
            problems.append(f"{label}: {', '.join(items[:5])}{more}")
    if problems:
        raise WeightsError(f"weights from {what} do not fit the model: " + "; ".join(problems))


def load_state_dict(family: str, weights: str | Path | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """The (mapped, torchvision-layout) state dict of ``family``, read once per process.

    Args:
        family: a key of :data:`SOURCES`.
        weights: ``None`` for the family's Hub source, a local ``.safetensors`` path, or
            ``"hf://ORG/REPO/FILE.safetensors[@REV]"`` for another Hub file.

    Returns:
        ``(state_dict, description of where it came from)``.
    """
    if family not in SOURCES:
        raise WeightsError(f"no weight source for {family!r}; known: {', '.join(SOURCES)}")
    default = SOURCES[family]
    if weights is None or str(weights).startswith("hf://"):
        source = default if weights is None else parse_hub_spec(str(weights))
        rules = WeightSource(source.repo_id, source.filename, source.revision, default.rename, default.reshape)
        key: tuple = ("hub", family, source.repo_id, source.filename, source.revision)
        with _LOCK:
            if key not in _CACHE:
                _CACHE[key] = map_keys(read_safetensors(download(source)), rules)
        return _CACHE[key], f"Hub {source.label}"
    path = Path(weights).expanduser().resolve()
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    key = ("file", family, str(path), path.stat().st_mtime_ns)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = map_keys(read_safetensors(path), default)
    return _CACHE[key], str(path)


def clear_cache() -> None:
    """Forget every state dict read so far (tests)."""
    with _LOCK:
        _CACHE.clear()
