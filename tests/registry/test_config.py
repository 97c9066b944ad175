"""The registry settings file and how references map to hosts and schemes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from minidock.errors import RegistryError
from minidock.reference import parse
from minidock.registry import Credentials, RegistryConfig
from minidock.registry.endpoint import Scheme, pull_endpoint, push_endpoint
from minidock.settings import Settings


def test_credentials_are_written_0600_and_other_keys_survive(settings):
    settings.config_dir.mkdir(parents=True)
    path = settings.config_dir / "config.json"
    path.write_text(json.dumps({"registry-mirrors": ["127.0.0.1:5000"], "other": {"x": 1}}))
    os.chmod(path, 0o644)
    config = RegistryConfig.load(settings, env={})

    config.set_credentials("Registry.Example.com:5000", Credentials("u", "p"))

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["other"] == {"x": 1}
    assert data["registry-mirrors"] == ["127.0.0.1:5000"]
    assert list(data["auths"]) == ["registry.example.com:5000"]
    assert RegistryConfig.load(settings, env={}).credentials(
        "registry.example.com:5000") == Credentials("u", "p")
    assert [p.name for p in settings.config_dir.iterdir() if p.name.startswith(".config.json.")
            and not p.name.endswith(".lock")] == []


def test_docker_hub_credentials_use_dockers_key(settings):
    config = RegistryConfig.load(settings, env={})
    config.set_credentials("docker.io", Credentials("u", "p"))
    data = json.loads((settings.config_dir / "config.json").read_text())
    assert list(data["auths"]) == ["https://index.docker.io/v1/"]
    assert config.remove_credentials("index.docker.io")
    assert json.loads((settings.config_dir / "config.json").read_text())["auths"] == {}


def test_a_corrupt_config_file_is_a_one_line_error(settings):
    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "config.json").write_text("{not json")
    with pytest.raises(RegistryError, match="invalid registry config"):
        RegistryConfig.load(settings, env={})


def test_environment_overrides_for_mirror_and_insecure_registries(settings):
    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "config.json").write_text(json.dumps(
        {"registry-mirrors": ["file-mirror:5000"], "insecure-registries": ["lan:5000"]}))
    env_settings = Settings(root=settings.root, config_dir=settings.config_dir,
                            registry_mirror="env-mirror:5000")

    from_file = RegistryConfig.load(settings, env={})
    from_env = RegistryConfig.load(env_settings,
                                   env={"MINIDOCK_INSECURE_REGISTRIES": "a.lan, b.lan:443"})

    assert from_file.mirror == "file-mirror:5000"
    assert from_file.insecure == {"lan:5000"}
    assert from_env.mirror == "env-mirror:5000"
    assert from_env.insecure == {"lan:5000", "a.lan", "b.lan:443"}


@pytest.mark.parametrize(("ref", "host", "schemes"), [
    ("127.0.0.1:5000/demo/nginx", "127.0.0.1:5000", (Scheme("http", False),)),
    ("localhost:5000/demo/nginx", "localhost:5000", (Scheme("http", False),)),
    ("[::1]:5000/demo/nginx", "[::1]:5000", (Scheme("http", False),)),
    ("registry.example.com/demo/nginx", "registry.example.com", (Scheme("https", True),)),
    ("lan:5000/demo/nginx", "lan:5000", (Scheme("https", False), Scheme("http", False))),
    ("nginx", "registry-1.docker.io", (Scheme("https", True),)),
])
def test_schemes_by_host(settings, ref, host, schemes):
    config = RegistryConfig.load(settings, env={"MINIDOCK_INSECURE_REGISTRIES": "lan:5000"})
    endpoint = pull_endpoint(parse(ref), config)
    assert (endpoint.host, endpoint.schemes) == (host, schemes)


def test_mirror_applies_to_docker_hub_pulls_only(settings):
    mirrored = Settings(root=settings.root, config_dir=settings.config_dir,
                        registry_mirror="127.0.0.1:5000")
    config = RegistryConfig.load(mirrored, env={})
    hub = pull_endpoint(parse("nginx:stable"), config)
    assert (hub.host, hub.is_mirror, hub.is_docker_hub) == ("127.0.0.1:5000", True, False)
    assert pull_endpoint(parse("quay.io/a/b"), config).host == "quay.io"
    assert push_endpoint(parse("nginx:stable"), config).host == "registry-1.docker.io"


def test_mirror_given_as_an_https_url_keeps_its_scheme(settings):
    mirrored = Settings(root=settings.root, config_dir=settings.config_dir,
                        registry_mirror="https://mirror.example.com/")
    endpoint = pull_endpoint(parse("nginx"), RegistryConfig.load(mirrored, env={}))
    assert (endpoint.host, endpoint.schemes) == ("mirror.example.com", (Scheme("https", True),))
