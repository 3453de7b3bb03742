"""What an evaluation is: its spec, its task list, and the keys that make it resumable.

Every (image, representation layer, seed) is one :class:`Task`: one run of the engine
with the layer's preset and the settings given. Its key is

    sha256(image content sha256 : settings hash : seed)[:24]

where the settings hash covers the fully resolved settings (:meth:`Settings.to_dict`
minus the device, which does not change the result), the representation's name and its
weights (a local file by its content hash; random weights with :data:`NETWORK_SEED`).
The same image, network and settings give the same key on any machine, so a re-run
finds what a previous run finished, whatever the image's file name or the worker.

This is the one module of the package (with the schema and the engine) that names the
per-task seed: every other one reads it from a :class:`Task`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ImageError, SettingError
from ..representations.base import Family, LayerSpec, Representation
from ..representations.registry import get_family, load_representation, parse_name, resolve_weights
from ..settings import DESCRIPTIVE, InversionConfig, config_from_dict, config_to_dict, pinned_config, resolve_settings
from ..weights import LocalFile, RandomInit, WeightsSpec, file_sha256, weights_text

#: Image files an evaluation takes from its folder (by suffix, case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Seed of the network's initialisation when the weights are ``"random"``: one network for
#: every task and seed, so that seeds vary the inversion only.
NETWORK_SEED = 0
#: Changes whenever what a task computes changes, so that old results are not reused.
STORE_VERSION = 1
#: A task's snapshots: one, at the end (a task reports nothing while it runs).
FINAL_SNAPSHOT_ONLY = 10**9
#: ``layers=ALL_LAYERS``: every layer of each family.
ALL_LAYERS = "all"
#: The per-task table's columns, in order: what the task is, then what it gave.
TABLE_COLUMNS = (
    "image", "representation", "layer", "depth", "seed", "status", "ijcv_error", "cvpr_error", "psnr_db", "ssim",
    "steps", "seconds", "device", "settings_hash", "image_sha256", "key", "error",
)  # fmt: skip


@dataclass(frozen=True)
class EvaluationSpec:
    """What to evaluate.

    Attributes:
        folder: the image folder (every :data:`IMAGE_SUFFIXES` file in it, sorted by name).
        representations: names ``family`` or ``family:layer`` (see ``inverter list``).
        layers: for a name without a layer: ``None`` (the family's default layer),
            :data:`ALL_LAYERS`, or layer names (each must exist in every such family
            with several layers; a one-layer family, HOG say, has its one layer).
        seeds: the inversion seeds of each image; ``()`` = the config's seed alone.
        limit: use only the first N images.
        config: the inversion settings (``None`` fields: each layer's preset); no code mask.
        weights: weights of the families that have learned weights (``None``: each
            family's default source or ``$INVERTER_WEIGHTS_<FAMILY>``; ``"random"``).
        plugins: modules imported before any work, in every worker (:mod:`inverter.plugins`).
    """

    folder: str
    representations: tuple[str, ...]
    layers: str | tuple[str, ...] | None = None
    seeds: tuple[int, ...] = ()
    limit: int | None = None
    config: InversionConfig = field(default_factory=InversionConfig)
    weights: str | None = None
    plugins: tuple[str, ...] = ()

    def seed_list(self) -> tuple[int, ...]:
        """The seeds each image is inverted with.

        Raises:
            SettingError: seeds given both as :attr:`seeds` and in the config.
        """
        if self.seeds and self.config.seed != InversionConfig().seed:
            raise SettingError(f"seeds given twice: seeds={list(self.seeds)} and the config's seed "
                               f"{self.config.seed}; give one")  # fmt: skip
        if any(s < 0 for s in self.seeds):
            raise SettingError(f"seeds must be ≥ 0, got {list(self.seeds)}")
        return tuple(dict.fromkeys(self.seeds)) or (self.config.seed,)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the folder absolute)."""
        data = asdict(self)
        data.update(folder=str(Path(self.folder).expanduser().resolve()), config=config_to_dict(self.config),
                    layers=self.layers if self.layers is None or isinstance(self.layers, str) else list(self.layers),
                    representations=list(self.representations), seeds=list(self.seeds), plugins=list(self.plugins))  # fmt: skip
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvaluationSpec":
        """Inverse of :meth:`to_dict`.

        Raises:
            SettingError: a missing or malformed entry.
        """
        try:
            layers = data.get("layers")
            return cls(
                folder=str(data["folder"]),
                representations=tuple(data["representations"]),
                layers=layers if layers is None or isinstance(layers, str) else tuple(layers),
                seeds=tuple(int(s) for s in data.get("seeds", ())),
                limit=data.get("limit"),
                config=config_from_dict(data.get("config", {})),
                weights=data.get("weights"),
                plugins=tuple(data.get("plugins", ())),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise SettingError(f"malformed evaluation spec: {err}") from None


@dataclass(frozen=True)
class Task:
    """One inversion of an evaluation.

    Attributes:
        key: the task's key (see the module docstring), also its files' name.
        image: the image's file name in the folder. path: its absolute path.
        image_sha256: sha256 of the file's bytes (of ``unreadable:NAME`` for a file that cannot be read).
        representation: ``family:layer`` (``family`` alone for one-layer families).
        family, layer: its parts. depth: the layer's position in its family, 1 = the shallowest.
        seed: the inversion's seed.
        settings_hash: hash of the resolved settings, the name and the weights.
        settings: the resolved settings (:meth:`Settings.to_dict`), without the device.
        config: the pinned config (:func:`inverter.settings.config_to_dict`) the worker runs:
            every value resolved, the device as asked for (``None`` = automatic).
        weights: the weights argument (``None`` for families without learned weights).
    """

    key: str
    image: str
    path: str
    image_sha256: str
    representation: str
    family: str
    layer: str
    depth: int
    seed: int
    settings_hash: str
    settings: dict[str, Any]
    config: dict[str, Any]
    weights: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Task":
        """Inverse of :meth:`to_dict` (unknown keys are ignored).

        Raises:
            SettingError: a missing entry.
        """
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise SettingError(f"malformed task record: missing {', '.join(missing)}")
        return cls(**{n: data[n] for n in names})

    def inversion_config(self) -> InversionConfig:
        """The config the worker runs."""
        return config_from_dict(self.config)

    @property
    def label(self) -> str:
        """``image · representation · seed S``, for messages."""
        return f"{self.image} · {self.representation} · seed {self.seed}"

    def row(self) -> dict[str, Any]:
        """The task's part of its table row (:data:`TABLE_COLUMNS`)."""
        data = self.to_dict()
        return {k: data[k] for k in TABLE_COLUMNS if k in data}


@dataclass(frozen=True)
class Plan:
    """The tasks of an evaluation, in order (representation, layer, image, seed).

    Attributes:
        spec: the evaluation. tasks: every task, each key once.
        duplicates: ``(image, same content as image)`` pairs left out.
    """

    spec: EvaluationSpec
    tasks: tuple[Task, ...]
    duplicates: tuple[tuple[str, str], ...] = ()


def list_images(folder: str | Path, limit: int | None = None) -> list[Path]:
    """The images of ``folder``: its :data:`IMAGE_SUFFIXES` files, sorted by name, the first ``limit``.

    Raises:
        ImageError: not a folder, or no images in it.
        SettingError: ``limit`` < 1.
    """
    if limit is not None and limit < 1:
        raise SettingError(f"limit must be ≥ 1, got {limit}")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ImageError(f"not a folder of images: {path}")
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                   key=lambda p: p.name)  # fmt: skip
    if not files:
        raise ImageError(f"no {'/'.join(IMAGE_SUFFIXES)} images in {path}")
    return files[:limit] if limit else files


def image_hash(path: Path) -> str:
    """sha256 of the file's bytes; of ``unreadable:NAME`` when it cannot be read (its task then fails)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return hashlib.sha256(f"unreadable:{path.name}".encode()).hexdigest()


def family_layers(name: str, layers: str | Sequence[str] | None) -> tuple[Family, tuple[LayerSpec, ...]]:
    """The family of ``name`` and the layers to evaluate (see :attr:`EvaluationSpec.layers`).

    Raises:
        UnknownNameError: unknown family or layer.
    """
    family_name, name_layer = parse_name(name)
    family = get_family(family_name)
    if name_layer:
        return family, (family.layer(name_layer),)
    if layers == ALL_LAYERS or len(family.layers) == 1:
        return family, family.layers
    if layers:
        return family, tuple(family.layer(layer) for layer in layers)
    return family, (family.layer(None),)


def weights_material(spec: WeightsSpec) -> dict[str, Any]:
    """What identifies a network's weights in the settings hash: the argument, a local file's
    content hash, the seed of a random initialisation."""
    material: dict[str, Any] = {"weights": weights_text(spec)}
    if isinstance(spec, LocalFile) and spec.path.is_file():
        material["sha256"] = file_sha256(spec.path)
    if isinstance(spec, RandomInit):
        material["network_seed"] = NETWORK_SEED
    return material


def settings_hash(settings: Any, weights: dict[str, Any] | None) -> str:
    """Hash (16 hex digits) of resolved ``settings`` and the weights' material; what does not change
    the result is left out (the device, the preset's name: :data:`inverter.settings.DESCRIPTIVE`)."""
    data = {k: v for k, v in settings.to_dict().items() if k != "device" and k not in DESCRIPTIVE}
    material = {"store_version": STORE_VERSION, "settings": data, "weights": weights}
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def task_key(image_sha256: str, settings_digest: str, seed: int) -> str:
    """The task's key, 24 hex digits."""
    return hashlib.sha256(f"{image_sha256}:{settings_digest}:{seed}".encode()).hexdigest()[:24]


def load_network(name: str, weights: str | None, device: str | None) -> Representation:
    """The representation a task runs on: ``name`` with ``weights`` (random ones seeded by
    :data:`NETWORK_SEED`) on ``device``.

    Raises:
        UnknownNameError, WeightsError: as :func:`inverter.representations.load_representation`.
    """
    seed = NETWORK_SEED if weights == "random" else None
    return load_representation(name, weights=weights, device=device, seed=seed)


#: ``networks(name, weights, device)`` → a representation (a cache, say); default :func:`load_network`.
Networks = Callable[[str, "str | None", "str | None"], Representation]


def plan_tasks(spec: EvaluationSpec, networks: Networks = load_network) -> Plan:
    """Every task of ``spec``; every name, layer, setting and weights file is checked here,
    before any inversion.

    Each layer's network is built once on the CPU to resolve its settings (and so to check
    its weights); the tasks are resolved with the device left out.

    Raises:
        UnknownNameError: an unknown representation or layer.
        SettingError: a bad setting, a code mask (an evaluation inverts whole codes), bad seeds.
        WeightsError: weights that cannot be had or do not fit.
        ImageError: not a folder, or no images in it.
    """
    if spec.config.mask is not None:
        raise SettingError("an evaluation inverts the whole code: drop the code mask")
    if not spec.representations:
        raise SettingError("no representation to evaluate")
    seeds = spec.seed_list()
    chosen = []
    for name in dict.fromkeys(spec.representations):
        family, layers = family_layers(name, spec.layers)
        resolved = resolve_weights(family, spec.weights if family.needs_weights else None)
        weights = weights_text(resolved.spec) if family.needs_weights else None
        chosen.append((family, layers, weights, weights_material(resolved.spec) if family.needs_weights else None))
    paths = list_images(spec.folder, spec.limit)
    images: list[tuple[Path, str]] = []
    duplicates: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for path in paths:
        sha = image_hash(path)
        if sha in seen:
            duplicates.append((path.name, seen[sha]))
            continue
        seen[sha] = path.name
        images.append((path.resolve(), sha))
    base = spec.config.replace(snapshot_every=FINAL_SNAPSHOT_ONLY)
    tasks: dict[str, Task] = {}
    for family, layers, weights, material in chosen:
        depth = {layer.name: i + 1 for i, layer in enumerate(family.layers)}
        for layer in layers:
            representation = networks(f"{family.name}:{layer.name}", weights, "cpu")
            resolved = {}
            for seed in seeds:
                settings = resolve_settings(representation, base.replace(seed=seed, device="cpu"))
                data = settings.to_dict()
                data.pop("device")
                pinned = config_to_dict(pinned_config(settings, spec.config.device))
                resolved[seed] = (settings_hash(settings, material), data, pinned)
            for path, sha in images:
                for seed in seeds:
                    digest, data, pinned = resolved[seed]
                    key = task_key(sha, digest, seed)
                    tasks.setdefault(key, Task(key, path.name, str(path), sha, representation.name, family.name,
                                               layer.name, depth[layer.name], seed, digest, data, pinned, weights))  # fmt: skip
    return Plan(spec, tuple(tasks.values()), tuple(duplicates))
