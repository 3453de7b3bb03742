"""Weights: the typed argument, the family's default source, the environment, a test-made
Hugging Face cache (offline), every kind of Hub failure (a fake Hub on loopback), key mapping, caching.

huggingface_hub 2.4 reads ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` once, when
``huggingface_hub.constants`` is imported, and looks them up on that module at call
time. In-process tests therefore patch the module's attributes; one subprocess test
sets the real environment variables to check that they are honoured end to end.
"""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torchvision import models

from conftest import cache_hub_file
from inverter import load_representation
from inverter import weights as hub
from inverter.errors import WeightsError
from inverter.representations import get_family
from inverter.weights import HubFile, KeyMap, LocalFile, RandomInit, check_state_dict, parse_weights

REPO = Path(__file__).resolve().parents[1]
VGG = get_family("vgg16").weights
VGG_KEYS = get_family("vgg16").key_map


@pytest.fixture(autouse=True)
def fresh_cache():
    hub.clear_cache()
    yield
    hub.clear_cache()


def conv1_1(seed: int = 0, weight_shape: tuple[int, ...] = (64, 3, 3, 3)) -> dict[str, torch.Tensor]:
    """Random tensors for VGG-16's first conv (``features.0.*``), as timm names them."""
    gen = torch.Generator().manual_seed(seed)
    return {"features.0.weight": torch.randn(weight_shape, generator=gen) * 0.2,
            "features.0.bias": torch.randn(weight_shape[0], generator=gen)}  # fmt: skip


def make_hub_cache(root: Path, tensors: dict[str, torch.Tensor], source: HubFile = VGG) -> Path:
    """Lay ``tensors`` out as ``source``'s file in a Hugging Face cache under ``root``."""
    return cache_hub_file(root, source.repo_id, source.filename, lambda path: save_file(tensors, str(path)))


# --- key mapping --------------------------------------------------------------------


def timm_vgg16_shapes() -> dict[str, tuple[int, ...]]:
    """timm's ``vgg16`` state-dict layout: torchvision's ``features.*`` plus ConvMlp pre-logits."""
    with torch.device("meta"):
        features = {k: tuple(v.shape) for k, v in models.vgg16().state_dict().items() if k.startswith("features.")}
    return {
        **features,
        "pre_logits.fc1.weight": (4096, 512, 7, 7), "pre_logits.fc1.bias": (4096,),
        "pre_logits.fc2.weight": (4096, 4096, 1, 1), "pre_logits.fc2.bias": (4096,),
        "head.fc.weight": (1000, 4096), "head.fc.bias": (1000,),
    }  # fmt: skip


def test_vgg16_rules_turn_timm_layout_into_torchvision_state_dict():
    # Meta tensors: the real 400 MB shapes, no memory.
    timm_state = {k: torch.empty(s, device="meta") for k, s in timm_vgg16_shapes().items()}
    mapped = VGG_KEYS.apply(timm_state)
    with torch.device("meta"):
        expected = {k: v.shape for k, v in models.vgg16().state_dict().items()}
    check_state_dict(mapped, expected, set(expected), "fake timm vgg16")  # raises on any mismatch
    assert set(mapped) == set(expected)
    assert tuple(mapped["classifier.0.weight"].shape) == (4096, 25088)
    assert tuple(mapped["classifier.3.weight"].shape) == (4096, 4096)
    assert tuple(mapped["classifier.6.weight"].shape) == (1000, 4096)


def test_mapping_moves_values_and_reshapes_in_row_major_order():
    # Small stand-ins for the fc layers, with VGG's renaming rules and a matching reshape rule.
    small = KeyMap(rename=VGG_KEYS.rename, reshape=(("classifier.0.weight", (6, 8)),))
    fc1 = torch.arange(6 * 2 * 2 * 2, dtype=torch.float32).reshape(6, 2, 2, 2)
    head = torch.randn(3, 6)
    mapped = small.apply({"module.pre_logits.fc1.weight": fc1, "head.fc.weight": head, "features.0.bias": head[0]})
    assert set(mapped) == {"classifier.0.weight", "classifier.6.weight", "features.0.bias"}
    assert torch.equal(mapped["classifier.0.weight"], fc1.reshape(6, 8))  # torch's flatten = C·H·W order
    assert torch.equal(mapped["classifier.6.weight"], head)


def test_reshape_rule_skips_tensors_of_another_size_and_the_check_reports_them():
    mapped = VGG_KEYS.apply({"pre_logits.fc1.weight": torch.zeros(4, 512, 7, 7)})
    assert tuple(mapped["classifier.0.weight"].shape) == (4, 512, 7, 7)
    with pytest.raises(WeightsError, match=r"wrong shapes: classifier\.0\.weight"):
        check_state_dict(mapped, {"classifier.0.weight": torch.Size((4096, 25088))}, set(), "test")


def test_hub_spec_parsing():
    source = parse_weights("hf://org/repo/sub/dir/w.safetensors@v1.0")  # the short form
    assert (source.repo_id, source.filename, source.revision) == ("org/repo", "sub/dir/w.safetensors", "v1.0")
    assert parse_weights("hf://org/repo/w.safetensors").revision is None
    canonical = parse_weights("hf://org/repo@v1.0/sub/dir/w.safetensors")  # huggingface_hub's own syntax
    assert canonical == source and canonical.uri == "hf://org/repo@v1.0/sub/dir/w.safetensors"
    assert parse_weights(source.uri) == source
    for bad in ("hf://org/w.safetensors", "hf://org/repo/w.bin", "hf://datasets/org/repo/w.safetensors"):
        with pytest.raises(WeightsError, match=r"hf://ORG/REPO\[@REVISION\]/FILE.safetensors"):
            parse_weights(bad)


def test_weights_arguments_parse_into_one_typed_value(tmp_path):
    assert parse_weights(None) == parse_weights("") == parse_weights("default") == hub.FamilyDefault()
    assert parse_weights("random") == RandomInit()
    assert parse_weights(tmp_path / "w.safetensors") == LocalFile((tmp_path / "w.safetensors").resolve())
    assert parse_weights("~/w.safetensors") == LocalFile(Path("~/w.safetensors").expanduser().resolve())
    for text in (None, "random", "hf://org/repo@main/w.safetensors", str(tmp_path / "w.safetensors")):
        assert hub.weights_text(parse_weights(text)) == text
    for pickle in ("model.bin", "model.pth", "model.pt", "model.ckpt"):
        with pytest.raises(WeightsError, match="pickle"):
            parse_weights(pickle)


# --- end-to-end through a fake Hub cache --------------------------------------------------


def test_truncated_vgg16_loads_from_offline_hub_cache(offline_cache):
    tensors = conv1_1(seed=3)
    make_hub_cache(offline_cache, tensors)
    rep = load_representation("vgg16:conv1_1", weights=None, device="cpu")
    state = rep.body.state_dict()
    assert set(state) == {"features.0.weight", "features.0.bias"}
    assert torch.equal(state["features.0.weight"], tensors["features.0.weight"])
    assert torch.equal(state["features.0.bias"], tensors["features.0.bias"])
    # It computes that conv on torchvision's normalised input.
    x = torch.randn(1, 3, 16, 16) * 50
    expected = torch.nn.functional.conv2d(x * rep.inv_std, tensors["features.0.weight"], tensors["features.0.bias"], padding=1)
    torch.testing.assert_close(rep(x), expected)


def test_missing_file_in_offline_mode_names_repo_and_file(offline_cache):
    with pytest.raises(WeightsError) as info:
        load_representation("vgg16:conv1_1", weights=None, device="cpu")
    message = str(info.value)
    assert "timm/vgg16.tv_in1k" in message and "model.safetensors" in message
    assert "\n" not in message
    # The suggested fix must be a command that exists in huggingface_hub ≥ 1.0.
    assert "hf download timm/vgg16.tv_in1k model.safetensors" in message


def test_other_hub_file_missing_from_cache_is_named(offline_cache):
    make_hub_cache(offline_cache, conv1_1())
    with pytest.raises(WeightsError, match=r"'other\.safetensors'.*'timm/vgg16\.tv_in1k'"):
        load_representation("vgg16:conv1_1", weights="hf://timm/vgg16.tv_in1k/other.safetensors", device="cpu")


def test_wrong_shape_in_hub_file_is_a_clear_error(offline_cache):
    make_hub_cache(offline_cache, conv1_1(weight_shape=(64, 3, 5, 5)))
    with pytest.raises(WeightsError, match=r"timm/vgg16\.tv_in1k.*wrong shapes: features\.0\.weight \(64, 3, 5, 5\)"):
        load_representation("vgg16:conv1_1", weights=None, device="cpu")


def test_unexpected_key_in_hub_file_is_a_clear_error(offline_cache):
    make_hub_cache(offline_cache, {**conv1_1(), "features.0.running_mean": torch.zeros(64)})
    with pytest.raises(WeightsError, match=r"unexpected keys: features\.0\.running_mean"):
        load_representation("vgg16:conv1_1", weights=None, device="cpu")


def test_hub_weights_are_read_once_per_process(offline_cache, monkeypatch):
    make_hub_cache(offline_cache, conv1_1())
    calls = {"download": 0, "read": 0}
    download, read = hub.download, hub.read_safetensors

    def counting_download(source):
        calls["download"] += 1
        return download(source)

    def counting_read(path):
        calls["read"] += 1
        return read(path)

    monkeypatch.setattr(hub, "download", counting_download)
    monkeypatch.setattr(hub, "read_safetensors", counting_read)
    first = load_representation("vgg16:conv1_1", device="cpu")
    second = load_representation("vgg16:relu1_1", device="cpu")
    assert calls == {"download": 1, "read": 1}
    assert torch.equal(first.body.state_dict()["features.0.weight"], second.body.state_dict()["features.0.weight"])
    hub.clear_cache()
    load_representation("vgg16:conv1_1", device="cpu")
    assert calls == {"download": 2, "read": 2}


def test_local_file_is_cached_until_it_changes(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(conv1_1(seed=1), str(path))
    a = load_representation("vgg16:conv1_1", weights=path, device="cpu").body.state_dict()["features.0.weight"]
    again = hub.load_state_dict(parse_weights(path), VGG_KEYS)["features.0.weight"]
    assert again is hub.load_state_dict(parse_weights(str(path)), VGG_KEYS)["features.0.weight"]  # same cached tensor
    save_file(conv1_1(seed=2), str(path))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # coarse file-system clocks
    b = load_representation("vgg16:conv1_1", weights=path, device="cpu").body.state_dict()["features.0.weight"]
    assert not torch.equal(a, b)
    assert torch.equal(b, conv1_1(seed=2)["features.0.weight"])


def test_environment_variables_select_the_offline_cache(tmp_path):
    """HF_HUB_CACHE/HF_HUB_OFFLINE set in the environment of a fresh process (read at import)."""
    tensors = conv1_1(seed=5)
    cache = make_hub_cache(tmp_path / "env-cache", tensors)
    script = (
        "from inverter import load_representation\n"
        "rep = load_representation('vgg16:conv1_1', device='cpu')\n"
        "print(float(rep.body.state_dict()['features.0.weight'].double().sum()))\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("HF_HOME", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert np.isclose(float(done.stdout.strip()), float(tensors["features.0.weight"].double().sum()), rtol=1e-6)


# --- every kind of Hub failure, from a fake Hub on loopback -------------------------------------

FAKE_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers ``/{org}/{repo}/resolve/{revision}/{file}`` as the Hub does, by repo name:
    ``org/gated`` is gated, ``org/missing`` does not exist, revision ``nope`` does not exist,
    and ``org/repo`` has one file, ``w.safetensors`` (the server's ``payload``)."""

    payload = b""

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, body: bool) -> None:
        parts = self.path.split("?")[0].split("/")
        repo, revision, name = "/".join(parts[1:3]), parts[4:5], "/".join(parts[5:])
        if len(parts) < 6 or parts[3] != "resolve":
            code, headers = 404, {"X-Error-Code": "EntryNotFound"}
        elif repo == "org/gated":
            code, headers = 403, {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to model org/gated is restricted"}
        elif repo != "org/repo":
            code, headers = 401, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}
        elif revision != ["main"]:
            code, headers = 404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": f"Invalid rev id: {revision}"}
        elif name != "w.safetensors":
            code, headers = 404, {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"}
        else:
            code, headers = 200, {"ETag": '"fake-etag"', "X-Repo-Commit": FAKE_COMMIT}
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(self.payload)) if code == 200 else "0")
        self.end_headers()
        if body and code == 200:
            self.wfile.write(self.payload)

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)


@pytest.fixture(scope="module")
def fake_hub(tmp_path_factory):
    """A fake Hub on 127.0.0.1 serving VGG-16 conv1_1 tensors as org/repo's w.safetensors; yields (url, tensors)."""
    tensors = conv1_1(seed=9)
    path = tmp_path_factory.mktemp("fake-hub") / "w.safetensors"
    save_file(tensors, str(path))
    handler = type("Handler", (_FakeHub,), {"payload": path.read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tensors
    server.shutdown()


def test_each_kind_of_hub_failure_has_its_own_message_and_fix(fake_hub, tmp_path):
    """The real huggingface_hub client against the fake Hub (HF_ENDPOINT is read at import:
    a fresh process); the one good file also downloads and loads through the same path."""
    url, tensors = fake_hub
    script = (
        "import json\n"
        "from inverter import load_representation\n"
        "from inverter.errors import WeightsError\n"
        "out = {}\n"
        "for name, weights in [('gated', 'hf://org/gated/w.safetensors'), ('missing', 'hf://org/missing/w.safetensors'),\n"
        "                      ('revision', 'hf://org/repo@nope/w.safetensors'), ('file', 'hf://org/repo/x.safetensors')]:\n"
        "    try:\n"
        "        load_representation('vgg16:conv1_1', weights=weights, device='cpu')\n"
        "        out[name] = None\n"
        "    except WeightsError as err:\n"
        "        out[name] = str(err)\n"
        "rep = load_representation('vgg16:conv1_1', weights='hf://org/repo@main/w.safetensors', device='cpu')\n"
        "out['loaded'] = float(rep.body.state_dict()['features.0.weight'].double().sum())\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "HF_ENDPOINT": url, "HF_HUB_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("HF_HOME", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    messages = json.loads(done.stdout.strip().splitlines()[-1])
    assert np.isclose(messages.pop("loaded"), float(tensors["features.0.weight"].double().sum()), rtol=1e-6)
    expected = {
        "gated": ("the repo is gated", "accept its conditions at https://huggingface.co/org/gated"),
        "missing": ("no such repo", "check the repo's name; for a private repo log in"),
        "revision": ("has no revision 'nope'", "use one of its branches, tags or commits"),
        "file": ("has no such file", "check the file's name"),
    }
    for kind, (reason, fix) in expected.items():
        message = messages[kind]
        assert message and reason in message and f"Fix: {fix}" in message, (kind, message)
        assert "\n" not in message and "INVERTER_WEIGHTS_VGG16" in message  # one line, with the other way out
    assert len({m.split(":")[1] for m in messages.values()}) == 4  # four different explanations


# --- the environment chooses weights for every front end; describing them never loads them -------


def test_environment_chooses_the_family_default_for_the_python_api_and_the_cli(tmp_path, monkeypatch, capsys):
    from skimage import data, io

    from inverter.cli import main

    path = tmp_path / "env.safetensors"
    save_file(conv1_1(seed=4), str(path))
    monkeypatch.setenv("INVERTER_WEIGHTS_VGG16", str(path))
    rep = load_representation("vgg16:conv1_1", device="cpu")  # Python: no weights argument
    assert torch.equal(rep.body.state_dict()["features.0.weight"], conv1_1(seed=4)["features.0.weight"])
    image, report = tmp_path / "in.png", tmp_path / "r.json"
    io.imsave(image, data.astronaut()[::16, ::16], check_contrast=False)
    assert main(["invert", str(image), "-r", "vgg16:conv1_1", "--iterations", "2", "--size", "16", "--quiet",
                 "-o", str(tmp_path / "out.png"), "--report", str(report)]) == 0, capsys.readouterr().err  # fmt: skip
    written = json.loads(report.read_text())
    assert written["run"]["weights"] == str(path.resolve())  # pinned: the report re-runs without the variable
    assert written["weights_origin"].startswith(str(path.resolve())) and "$INVERTER_WEIGHTS_VGG16" in written["weights_origin"]
    monkeypatch.setenv("INVERTER_WEIGHTS_VGG16", str(tmp_path / "absent.safetensors"))
    assert main(["invert", str(image), "-r", "vgg16:conv1_1", "--iterations", "2", "--quiet"]) == 1
    assert "weights file not found" in capsys.readouterr().err


def test_describing_weights_never_loads_them(tmp_path, monkeypatch):
    from inverter.report import weights_origin
    from inverter.ui.choices import catalogue, weights_note

    path = tmp_path / "w.safetensors"
    save_file(conv1_1(), str(path))

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded to describe them")

    monkeypatch.setattr(hub, "read_safetensors", refuse)
    monkeypatch.setattr(hub, "download", refuse)
    monkeypatch.setenv("INVERTER_WEIGHTS_ALEXNET", str(path))
    assert weights_origin("vgg16:conv1_1", str(path)).startswith(str(path.resolve()))
    assert weights_origin("vgg16", None) == "Hub timm/vgg16.tv_in1k/model.safetensors"
    assert weights_origin("hog", None) == "none (no learned weights)"
    assert str(path) in weights_note("alexnet") and "INVERTER_WEIGHTS_ALEXNET" in weights_note("alexnet")
    assert catalogue()["alexnet"]["weights"] == str(path.resolve())


# --- a repo with only pickled weights: said so from the Hub's file list, the pickle never fetched ---


@pytest.fixture
def online_without_network(tmp_path, monkeypatch):
    """An empty Hub cache with offline mode off and every Hub call faked: ``hf_hub_download``
    answers that the file does not exist (recording what was asked for); returns that record."""
    import httpx
    import huggingface_hub
    import huggingface_hub.constants as constants
    from huggingface_hub.errors import RemoteEntryNotFoundError

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    asked: list[str] = []

    def missing(repo_id, filename, **kwargs):
        asked.append(filename)
        url = f"https://huggingface.co/{repo_id}/resolve/main/{filename}"
        raise RemoteEntryNotFoundError("404 Client Error. Entry Not Found for url: " + url,
                                       response=httpx.Response(404, request=httpx.Request("GET", url)))  # fmt: skip

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", missing)
    return asked


def test_a_repo_with_only_pickled_weights_is_refused_with_a_message_saying_so(online_without_network, monkeypatch):
    import huggingface_hub

    listed: list[str] = []

    def listing(repo_id, revision=None, **kwargs):
        listed.append(repo_id)
        return ["pytorch_model.bin", "config.json"]

    monkeypatch.setattr(huggingface_hub, "list_repo_files", listing)
    with pytest.raises(WeightsError) as info:
        hub.download(HubFile("org/pickled", "model.safetensors"))
    message = str(info.value)
    assert "only pickled weights (pytorch_model.bin)" in message and "refuses for safety" in message
    assert "convert them to .safetensors" in message and "--weights PATH.safetensors" in message
    assert "'org/pickled'" in message and "\n" not in message
    assert listed == ["org/pickled"] and online_without_network == ["model.safetensors"]  # the pickle never fetched
    assert type(info.value.__cause__).__name__ == "RemoteEntryNotFoundError"  # the Hub's own error, chained


def test_when_the_file_list_cannot_be_had_either_the_missing_file_message_stays(online_without_network, monkeypatch):
    import huggingface_hub

    def no_listing(*args, **kwargs):
        raise OSError("the Hub cannot be reached")

    monkeypatch.setattr(huggingface_hub, "list_repo_files", no_listing)
    with pytest.raises(WeightsError, match="the repo has no such file") as info:
        hub.download(HubFile("org/unlisted", "model.safetensors"))
    assert "pickle" not in str(info.value) and "'org/unlisted'" in str(info.value)
    assert type(info.value.__cause__).__name__ == "RemoteEntryNotFoundError"  # the original failure, not swallowed
