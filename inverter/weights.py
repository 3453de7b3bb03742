"""Where a representation's weights come from: one typed value, parsed once, resolved in one place.

A weights argument (``weights=`` in Python, ``--weights`` on the command line, a report's
``run.weights``, ``$INVERTER_WEIGHTS_<FAMILY>``) is parsed once by :func:`parse_weights`
into one of:

* :class:`FamilyDefault` — the source the family declares beside its definition
  (``None``, ``""`` or ``"default"``); :func:`resolve` turns it into the family's Hub
  file, unless ``$INVERTER_WEIGHTS_<FAMILY>`` or ``$INVERTER_RANDOM_WEIGHTS`` says otherwise;
* :class:`HubFile` — a file of a Hugging Face Hub repo: huggingface_hub's canonical URI
  ``hf://ORG/REPO[@REVISION]/PATH/FILE.safetensors``, or this project's older short form
  ``hf://ORG/REPO/FILE.safetensors@REVISION``;
* :class:`LocalFile` — a ``.safetensors`` file on disk;
* :class:`RandomInit` — ``"random"``: the architecture's own random initialisation.

Files are safetensors only (nothing is ever unpickled). Hub downloads go through
:func:`huggingface_hub.hf_hub_download`, which honours ``HF_HOME``, ``HF_HUB_CACHE`` and
``HF_HUB_OFFLINE``; every kind of failure (offline, missing repo or file, gated repo, bad
revision) is a :class:`WeightsError` whose message says what failed and how to fix it.
There is no fallback to random weights. :func:`describe` says where weights come from
without loading them.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import WeightsError


# ------------------------------------------------------------------------------ the typed value
#: File name endings of pickled weights, which are never read.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
#: Pickled weight files that Hub repos commonly hold instead of (or beside) a ``.safetensors`` one.
PICKLE_NAMES = ("pytorch_model.bin", "open_clip_pytorch_model.bin", "model.pth")


class WeightsSpec:
    """Base of the four kinds of weights argument (see the module docstring)."""


@dataclass(frozen=True)
class FamilyDefault(WeightsSpec):
    """The family's own default source (or what the environment chooses for it)."""


@dataclass(frozen=True)
class RandomInit(WeightsSpec):
    """The architecture's random initialisation (seeded by the caller's torch RNG)."""


@dataclass(frozen=True)
class LocalFile(WeightsSpec):
    """A ``.safetensors`` file on disk (an absolute path once parsed)."""

    path: Path


@dataclass(frozen=True)
class HubFile(WeightsSpec):
    """A file in a Hugging Face Hub model repo.

    Attributes:
        repo_id: ``"ORG/REPO"``. filename: path of the file in the repo.
        revision: branch, tag or commit; ``None`` = ``main``.
    """

    repo_id: str
    filename: str
    revision: str | None = None

    @property
    def uri(self) -> str:
        """huggingface_hub's canonical URI, ``hf://ORG/REPO[@REV]/FILE``."""
        return f"hf://{self.repo_id}" + (f"@{self.revision}" if self.revision else "") + f"/{self.filename}"


def parse_weights(value: WeightsSpec | str | Path | None) -> WeightsSpec:
    """Parse a weights argument (see the module docstring) into its typed value.

    Raises:
        WeightsError: a malformed ``hf://`` URI or a file that is not ``.safetensors``.
    """
    if isinstance(value, WeightsSpec):
        return value
    if value is None or str(value).strip() in ("", "default"):
        return FamilyDefault()
    text = str(value).strip()
    if text == "random":
        return RandomInit()
    if text.startswith("hf://"):
        return _parse_hub_uri(text)
    path = Path(text).expanduser()
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(f"{path.name} is a pickle file; only .safetensors weights are read (nothing is unpickled)")
    if path.suffix.lower() != ".safetensors":
        raise WeightsError(f"{path.name} is not a readable .safetensors file: weights are read from .safetensors files only")
    return LocalFile(path.resolve())


def _parse_hub_uri(text: str) -> HubFile:
    from huggingface_hub import parse_hf_uri

    path, at, revision = text[len("hf://"):].rpartition("@")
    if at and "/" not in revision and path.count("/") >= 2:  # the short form hf://ORG/REPO/FILE@REV
        org, repo, rest = path.split("/", 2)
        text = f"hf://{org}/{repo}@{revision}/{rest}"
    try:
        uri = parse_hf_uri(text)
    except ValueError as err:
        raise WeightsError(f"bad Hub weights {text!r} ({err}): use hf://ORG/REPO[@REVISION]/FILE.safetensors") from None
    if uri.type != "model" or not uri.path_in_repo.endswith(".safetensors"):
        raise WeightsError(f"bad Hub weights {text!r}: use hf://ORG/REPO[@REVISION]/FILE.safetensors "
                           "(a .safetensors file of a model repo)")  # fmt: skip
    return HubFile(uri.id, uri.path_in_repo, uri.revision)


def weights_text(spec: WeightsSpec) -> str | None:
    """The argument that parses back to ``spec`` (``None`` for the family default)."""
    if isinstance(spec, RandomInit):
        return "random"
    if isinstance(spec, HubFile):
        return spec.uri
    if isinstance(spec, LocalFile):
        return str(spec.path)
    return None


# ------------------------------------------------------------------------------ resolution
def env_name(family: str) -> str:
    """The variable that selects ``family``'s weights: ``INVERTER_WEIGHTS_<FAMILY>``
    (upper-cased, other characters as ``_``: ``INVERTER_WEIGHTS_SQUEEZENET1_1``)."""
    return "INVERTER_WEIGHTS_" + re.sub(r"[^A-Z0-9]", "_", family.upper())


RANDOM_ENV = "INVERTER_RANDOM_WEIGHTS"


@dataclass(frozen=True)
class Resolved:
    """A concrete weights source and why it was chosen.

    Attributes:
        spec: a :class:`HubFile`, :class:`LocalFile` or :class:`RandomInit`.
        chosen_by: ``"argument"``, ``"the family's default"`` or the environment variable's name.
    """

    spec: WeightsSpec
    chosen_by: str


def resolve(family: str, default: HubFile | None, weights: WeightsSpec | str | Path | None) -> Resolved:
    """The concrete source of ``family``'s weights for the argument ``weights``.

    The family default is, in order: ``$INVERTER_WEIGHTS_<FAMILY>``, random weights when
    ``$INVERTER_RANDOM_WEIGHTS`` is ``1``/``true``/``yes``/``on``, else ``default``.

    Raises:
        WeightsError: the family has no learned weights but weights were given.
    """
    spec = parse_weights(weights)
    if default is None:
        if not isinstance(spec, FamilyDefault):
            raise WeightsError(f"{family} has no learned weights; drop the weights argument ({weights_text(spec)})")
        return Resolved(spec, "the family's default")
    if not isinstance(spec, FamilyDefault):
        return Resolved(spec, "argument")
    chosen = os.environ.get(env_name(family), "").strip()
    if chosen:
        spec = parse_weights(chosen)
        if isinstance(spec, FamilyDefault):
            return Resolved(default, "the family's default")
        return Resolved(spec, env_name(family))
    if os.environ.get(RANDOM_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return Resolved(RandomInit(), RANDOM_ENV)
    return Resolved(default, "the family's default")


def describe(resolved: Resolved | WeightsSpec) -> str:
    """Where the weights come from, in words; never loads them (a local file is hashed)."""
    spec = resolved.spec if isinstance(resolved, Resolved) else resolved
    if isinstance(spec, RandomInit):
        text = "random (untrained) weights"
    elif isinstance(spec, HubFile):
        text = f"Hub {spec.repo_id}/{spec.filename}" + (f"@{spec.revision}" if spec.revision else "")
    elif isinstance(spec, LocalFile):
        text = str(spec.path) + (f" (sha256 {file_sha256(spec.path)})" if spec.path.is_file() else " (missing)")
    else:
        text = "none (no learned weights)"
    if isinstance(resolved, Resolved) and resolved.chosen_by.startswith("INVERTER_"):
        text += f", from ${resolved.chosen_by}"
    return text


def fix_hint(family: str) -> str:
    """How a user chooses other weights for ``family`` (appended to loading failures)."""
    return (f"Or choose other weights: --weights PATH.safetensors, or set {env_name(family)}=PATH.safetensors "
            f"({RANDOM_ENV}=1 for an untrained network).")  # fmt: skip


def in_hub_cache(spec: HubFile) -> bool:
    """Whether ``spec`` is in the local Hub cache (no network; a broken cache counts as absent)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(spec.repo_id, spec.filename, revision=spec.revision), str)
    except Exception:  # a malformed cache must not break a page that only describes it
        return False


# ------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class KeyMap:
    """How a family's weight files name their tensors, mapped onto the model's names.

    Attributes:
        rename: ``(regex, replacement)`` rules applied in order to every key.
        reshape: ``(model key, shape)`` pairs to reshape after renaming (same element count only).
    """

    rename: tuple[tuple[str, str], ...] = ((r"^(module|model)\.", ""),)
    reshape: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def apply(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` with renamed (and reshaped) keys."""
        mapped: dict[str, torch.Tensor] = {}
        for key, tensor in state.items():
            for pattern, replacement in self.rename:
                key = re.sub(pattern, replacement, key)
            mapped[key] = tensor
        for key, shape in self.reshape:
            if key in mapped and mapped[key].numel() == torch.Size(shape).numel():
                mapped[key] = mapped[key].reshape(shape)
        return mapped


#: Why a Hub download failed, and the fix, by huggingface_hub's exception class (first match wins).
#: ``{download}`` is the command that pre-downloads the file, ``{alternative}`` the other way out.
def _failures() -> tuple[tuple[type, str, str], ...]:
    from huggingface_hub import errors as hub

    offline = ("connect to the internet, or pre-download it into the Hub cache ({download}) and set "
               "HF_HUB_OFFLINE=1{alternative}")  # fmt: skip
    login = "log in (hf auth login, or set HF_TOKEN)"
    return (
        (hub.GatedRepoError, "the repo is gated", f"accept its conditions at https://huggingface.co/{{repo}}, then {login}"),
        (hub.RepositoryNotFoundError, "no such repo (or it is private)", f"check the repo's name; for a private repo {login}"),
        (hub.RevisionNotFoundError, "the repo has no revision {revision!r}", "use one of its branches, tags or commits"),
        (hub.LocalEntryNotFoundError, "it is not in the local Hub cache and the Hub cannot be reached", offline),
        (hub.OfflineModeIsEnabled, "offline mode is on and it is not in the local Hub cache", offline),
        (hub.EntryNotFoundError, "the repo has no such file", "check the file's name and path in the repo"),
        (hub.HfHubHTTPError, "the Hub answered with an error", "try again later"),
        (OSError, "the Hub cannot be reached", offline),
    )  # fmt: skip


#: The other way out of an offline failure to get weights.
WEIGHTS_ALTERNATIVE = ", or pass a local .safetensors file with --weights PATH"


def hub_error(spec: HubFile, err: BaseException, what: str = "weights",
              alternative: str = WEIGHTS_ALTERNATIVE, note: str = "") -> WeightsError:  # fmt: skip
    """The :class:`WeightsError` for a failure ``err`` to get ``spec``'s file from the Hub:
    what failed (``what``: ``"weights"``, ``"the model config"``…), the kind of failure, ``note``,
    and the kind's fix (``alternative`` appended to an offline one). The caller raises it ``from err``."""
    command = f"hf download {spec.repo_id} {spec.filename}" + (f" --revision {spec.revision}" if spec.revision else "")
    for kind, reason, fix in _failures():
        if isinstance(err, kind):
            break
    else:
        reason, fix = f"{type(err).__name__}", "see the message above"
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return WeightsError(
        f"could not get {what} {spec.filename!r} from Hugging Face Hub repo {spec.repo_id!r}: "
        f"{reason.format(revision=spec.revision)} ({type(err).__name__}: {detail}).{note} "
        f"Fix: {fix.format(repo=spec.repo_id, download=command, alternative=alternative)}."
    )


def _pickles_instead(spec: HubFile, err: BaseException) -> str:
    """A note on the pickled weights the repo holds instead of ``spec``'s file ("" if none known):
    the pickles in the local cache, or, when the Hub says the file does not exist, the repo's own
    file list (only listed: a pickle is never downloaded nor read)."""
    from huggingface_hub import constants
    from huggingface_hub import errors as hub

    fix = ("convert them to .safetensors where you trust the file (safetensors.torch.save_file of "
           "torch.load(PATH, weights_only=True)) and pass --weights PATH.safetensors, or use a repo's "
           ".safetensors file (--weights hf://ORG/REPO/FILE.safetensors)")  # fmt: skip
    cached = [name for name in PICKLE_NAMES if in_hub_cache(HubFile(spec.repo_id, name, spec.revision))]
    if cached:
        return (f" The repo's cached {', '.join(cached)} is pickled weights, which inverter never loads (a pickle "
                f"can run code): {fix}.")  # fmt: skip
    if not isinstance(err, hub.EntryNotFoundError) or isinstance(err, hub.LocalEntryNotFoundError) \
            or constants.HF_HUB_OFFLINE:  # fmt: skip
        return ""
    try:
        from huggingface_hub import list_repo_files

        files = list_repo_files(spec.repo_id, revision=spec.revision)
    except Exception:  # no listing: the message stays the one for the original failure (chained by the caller)
        return ""
    pickles = [name for name in files if name.lower().endswith(PICKLE_SUFFIXES)]
    safe = [name for name in files if name.endswith(".safetensors")]
    if not pickles:
        return ""
    if safe:
        return (f" The repo has pickled weights ({', '.join(pickles[:3])}), which inverter never loads, and these "
                f".safetensors files: {', '.join(safe[:5])} (choose one with --weights hf://{spec.repo_id}/FILE).")
    return (f" The repo has only pickled weights ({', '.join(pickles[:3])}), which inverter refuses for safety (a "
            f"pickle can run code; it is neither downloaded nor read): {fix}.")  # fmt: skip


def download(spec: HubFile) -> Path:
    """The local path of ``spec``'s file, downloading it into the Hub cache if needed.

    Raises:
        WeightsError: the download failed; the message names the kind of failure and its fix,
            and says so when the repo holds only pickled weights (never downloaded nor read).
    """
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(spec.repo_id, spec.filename, revision=spec.revision))
    except Exception as err:  # every failure is fatal here: reported with its fix, never swallowed
        raise hub_error(spec, err, note=_pickles_instead(spec, err)) from err


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


_CACHE: dict[tuple, dict[str, torch.Tensor]] = {}
_LOCK = threading.Lock()


def local_path(spec: HubFile | LocalFile) -> Path:
    """The file on disk: downloaded (or found in the cache) for a Hub file."""
    return download(spec) if isinstance(spec, HubFile) else spec.path


def load_state_dict(spec: HubFile | LocalFile, key_map: KeyMap = KeyMap()) -> dict[str, torch.Tensor]:
    """The state dict of a weights file with ``key_map`` applied, read once per process
    (a local file again when it changes).

    Raises:
        WeightsError: the file cannot be had or read.
    """
    if isinstance(spec, LocalFile):
        if not spec.path.is_file():
            raise WeightsError(f"weights file not found: {spec.path}")
        key: tuple = (spec, key_map, spec.path.stat().st_mtime_ns)
    else:
        key = (spec, key_map)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = key_map.apply(read_safetensors(local_path(spec)))
        return _CACHE[key]


def check_state_dict(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size], required: set[str], what: str
) -> None:
    """Every key of ``state`` must be a key of ``expected`` with the same shape, and every
    ``required`` key must be present.

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


def clear_cache() -> None:
    """Forget every state dict read so far (tests)."""
    with _LOCK:
        _CACHE.clear()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
