"""The Space's configuration: README.md's front matter, key by key, against the Spaces documentation.

The reference is hub-docs' ``docs/hub/spaces-config-reference.md`` (every accepted key; the
colours, SDKs and ``suggested_hardware`` flavours), ``repositories-licenses.md`` (``license``,
a key of every repository card, ``huggingface_hub.SpaceCardData`` included) and
``spaces-zerogpu.md`` (the Python and torch releases ZeroGPU supports), as of hub-docs commit
242f4a1 (August 2026): transcribed below, since the tests run offline.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]

#: spaces-config-reference.md: every key a Space's front matter accepts.
SPACE_KEYS = {
    "title", "emoji", "colorFrom", "colorTo", "sdk", "python_version", "sdk_version", "suggested_hardware",
    "suggested_storage", "app_file", "app_build_command", "app_port", "base_path", "fullWidth", "header",
    "short_description", "models", "datasets", "tags", "thumbnail", "pinned", "hf_oauth", "hf_oauth_scopes",
    "hf_oauth_expiration_minutes", "hf_oauth_authorized_org", "disable_embedding", "startup_duration_timeout",
    "custom_headers", "preload_from_hub",
}  # fmt: skip
#: repositories-licenses.md: keys of any repository card.
CARD_KEYS = {"license"}
COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
SDKS = {"gradio", "docker", "static"}
HARDWARE = {
    "cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "l4x4", "l40sx1", "l40sx4", "l40sx8", "a10g-small",
    "a10g-large", "a10g-largex2", "a10g-largex4", "a100-large", "a100x4", "a100x8",
}  # fmt: skip
#: repositories-licenses.md identifiers of permissive licences, and how their text begins.
PERMISSIVE = {"mit": "MIT License", "apache-2.0": "Apache License", "bsd-3-clause": "BSD 3-Clause License"}
#: spaces-zerogpu.md, "Supported Versions".
ZEROGPU_PYTHON = {"3.10.13", "3.12.12"}
ZEROGPU_TORCH = {"2.8.0", "2.9.1", "2.10.0", "2.11.0"}
#: torchvision's release for each torch release (torchvision's compatibility table).
TORCHVISION_OF = {"2.8.0": "0.23.0", "2.9.1": "0.24.1", "2.10.0": "0.25.0", "2.11.0": "0.26.0"}
#: The Hub cuts a Space card's short description at 60 characters (an assumption: not in the reference).
SHORT_DESCRIPTION_MAX = 60


def front_matter() -> dict:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.match(r"\A---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with the Space's front matter between --- lines"
    return yaml.safe_load(match.group(1))


@pytest.fixture(scope="module")
def config() -> dict:
    return front_matter()


def test_every_key_is_one_the_reference_accepts(config):
    assert set(config) <= SPACE_KEYS | CARD_KEYS, set(config) - SPACE_KEYS - CARD_KEYS
    for key in ("title", "sdk", "sdk_version", "app_file", "python_version", "short_description", "license", "tags",
                "suggested_hardware", "preload_from_hub"):  # fmt: skip
        assert key in config, key


def test_the_values_are_valid(config):
    import gradio

    assert isinstance(config["title"], str) and config["title"]
    assert isinstance(config["emoji"], str) and 1 <= len(config["emoji"]) <= 2
    assert config["colorFrom"] in COLORS and config["colorTo"] in COLORS
    assert config["sdk"] in SDKS and config["sdk"] == "gradio"
    assert str(config["sdk_version"]) == gradio.__version__  # the Gradio this project is tested with
    assert (REPO / config["app_file"]).is_file()
    assert isinstance(config["pinned"], bool)
    assert isinstance(config["short_description"], str) and 0 < len(config["short_description"]) <= SHORT_DESCRIPTION_MAX
    assert config["suggested_hardware"] in HARDWARE
    assert isinstance(config["tags"], list) and config["tags"]
    assert all(isinstance(t, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]*", t) for t in config["tags"])
    assert "mcp-server" in config["tags"]  # the app is an MCP server on the Space
    if "thumbnail" in config:  # an absolute URL (the Space's address is known once it exists)
        assert re.fullmatch(r"https://\S+\.(png|jpe?g)", config["thumbnail"])
    assert (REPO / "docs" / "thumbnail.png").is_file()


def test_the_python_is_one_zerogpu_supports(config):
    assert isinstance(config["python_version"], str)  # quoted: YAML would read 3.10 as 3.1
    assert config["python_version"] in ZEROGPU_PYTHON


def _pins(python: str) -> dict[str, str]:
    """``{package: version}`` that ``requirements.txt`` installs on Python ``python`` (``X.Y.Z``)."""
    env = {"python_version": ".".join(python.split(".")[:2]), "python_full_version": python}
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(env):
            (spec,) = requirement.specifier
            pins[requirement.name] = spec.version
    return pins


def test_the_space_installs_a_torch_zerogpu_supports_and_local_installs_keep_the_tested_one(config):
    import torch

    space = _pins(config["python_version"])
    assert space["torch"] in ZEROGPU_TORCH and space["torchvision"] == TORCHVISION_OF[space["torch"]]
    assert space["gradio"] == str(config["sdk_version"]) and "spaces" in space
    local = _pins("3.11.7")
    assert torch.__version__.split("+")[0] == local["torch"]  # the release these tests run on


def test_the_licence_is_declared_and_present(config):
    assert config["license"] in PERMISSIVE
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith(PERMISSIVE[config["license"]])
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(rf'^license = "{config["license"]}"$', pyproject, re.M | re.I)


def _preloaded(config: dict) -> dict[tuple[str, str], str | None]:
    """``{(repo, file): commit or None}`` of the ``preload_from_hub`` entries ("repo file1,file2 [commit]")."""
    out = {}
    for entry in config["preload_from_hub"]:
        words = entry.split()
        assert 2 <= len(words) <= 3, f"every entry names its files: {entry!r}"
        commit = words[2] if len(words) == 3 else None
        assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit), entry
        for filename in words[1].split(","):
            assert (words[0], filename) not in out, f"preloaded twice: {words[0]} {filename}"
            out[(words[0], filename)] = commit
    return out


def test_the_preloaded_weights_are_the_families_declared_sources(config):
    """Every listed family's default weights file is preloaded, nothing else is, and a pin is the
    family's declared revision (none is declared: no commit of these repos could be looked up here)."""
    # What a freshly started app lists (other tests register families of their own in this process).
    listing = subprocess.run(
        [sys.executable, "-c", "import json; from inverter.representations import get_family, suggested_names; "
         "print(json.dumps([[w.repo_id, w.filename, w.revision] for w in (get_family(n).weights for n in "
         "suggested_names()) if w is not None]))"],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    sources = {(repo, filename): revision for repo, filename, revision in json.loads(listing.stdout)}
    assert len(sources) >= 8  # AlexNet, SqueezeNet, VGG-16 and the five suggested timm models
    assert _preloaded(config) == sources
    assert {repo for repo, _ in sources} <= set(config["models"])
