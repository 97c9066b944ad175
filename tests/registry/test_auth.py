"""Login, basic auth (htpasswd) and bearer tokens against real registries."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from registry_testlib import PASSWORD, USER, run_cli

from minidock.errors import AuthError
from minidock.registry import Credentials, RegistryConfig, login, logout, pull_image, push
from minidock.registry.auth import Challenge, parse_challenges

pytestmark = pytest.mark.registry


# ---- challenge parsing (no registry needed) ------------------------------------------
def test_bearer_challenge_with_quoted_params():
    [ch] = parse_challenges(['Bearer realm="https://auth.example.com/token",'
                             'service="registry.example.com",'
                             'scope="repository:demo/nginx:pull,push"'])
    assert ch == Challenge("bearer", {"realm": "https://auth.example.com/token",
                                      "service": "registry.example.com",
                                      "scope": "repository:demo/nginx:pull,push"})


def test_basic_challenge_and_several_in_one_header():
    chs = parse_challenges(['Basic realm="a \\"quoted\\" realm", Bearer realm=x,service=y'])
    assert chs == [Challenge("basic", {"realm": 'a "quoted" realm'}),
                   Challenge("bearer", {"realm": "x", "service": "y"})]


def test_garbage_challenge_yields_nothing_usable():
    assert parse_challenges(["", "   "]) == []


# ---- basic auth ------------------------------------------------------------------------
def test_wrong_password_fails_with_the_registrys_message(basic_registry, settings, config):
    with pytest.raises(AuthError) as err:
        login(settings, basic_registry.host, USER, "wrong", config=config)
    assert str(err.value) == (f"login to {basic_registry.host} failed: unauthorized: "
                              "authentication required")
    assert not (settings.config_dir / "config.json").exists()


def test_login_stores_private_credentials_that_push_and_pull_use(
        basic_registry, settings, config, store, fresh_store, make_image, repo):
    ref = f"{basic_registry.host}/{repo}:v1"
    image = make_image(ref)
    with pytest.raises(AuthError, match="unauthorized: authentication required"):
        push(store, ref, config=config)

    login(settings, basic_registry.host, USER, PASSWORD, config=config)

    path = settings.config_dir / "config.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = json.loads(path.read_text())["auths"][basic_registry.host]["auth"]
    assert base64.b64decode(stored).decode() == f"{USER}:{PASSWORD}"
    fresh = RegistryConfig.load(settings, env={})
    assert push(store, ref, config=fresh).digest == image.digest
    assert pull_image(fresh_store, ref, config=fresh).image.id == image.id


def test_logout_forgets_the_credentials(basic_registry, settings, config, store, make_image,
                                        repo):
    ref = f"{basic_registry.host}/{repo}:v1"
    make_image(ref)
    login(settings, basic_registry.host, USER, PASSWORD, config=config)

    assert logout(settings, basic_registry.host)

    after = RegistryConfig.load(settings, env={})
    assert after.credentials(basic_registry.host) is None
    with pytest.raises(AuthError):
        push(store, ref, config=after)
    assert not logout(settings, basic_registry.host)


def test_cli_login_and_logout(basic_registry, settings):
    bad = run_cli(["login", "-u", USER, "--password-stdin", basic_registry.host], settings,
                  input="nope\n")
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[-1] == (f"Error: login to {basic_registry.host} failed: "
                                           "unauthorized: authentication required")

    good = run_cli(["login", "-u", USER, "--password-stdin", basic_registry.host], settings,
                   input=PASSWORD + "\n")
    assert good.returncode == 0, good.stderr
    assert good.stdout == "Login Succeeded\n"

    out = run_cli(["logout", basic_registry.host], settings)
    assert out.returncode == 0
    assert out.stdout == f"Removing login credentials for {basic_registry.host}\n"
    assert RegistryConfig.load(settings, env={}).credentials(basic_registry.host) is None


def test_cli_login_refuses_both_password_options(settings):
    out = run_cli(["login", "-u", USER, "-p", "x", "--password-stdin", "127.0.0.1:1"],
                  settings, input="y\n")
    assert out.returncode == 125
    assert "mutually exclusive" in out.stderr


# ---- bearer tokens -----------------------------------------------------------------------
def test_bearer_login_push_and_pull(token_registry, token_server, settings, config, store,
                                    fresh_store, make_image, repo):
    ref = f"{token_registry.host}/{repo}:v1"
    image = make_image(ref)
    with pytest.raises(AuthError, match="incorrect username or password"):
        login(settings, token_registry.host, USER, "wrong", config=config)
    login(settings, token_registry.host, USER, PASSWORD, config=config)
    creds = RegistryConfig.load(settings, env={})
    token_server.requests.clear()

    assert push(store, ref, config=creds).digest == image.digest
    push_requests = list(token_server.requests)
    token_server.requests.clear()
    pulled = pull_image(fresh_store, ref, config=creds)

    assert pulled.image.id == image.id
    # one token per scope for the whole transfer, not one per blob
    assert push_requests == [(USER, [f"repository:{repo}:pull,push"])]
    assert token_server.requests == [(USER, [f"repository:{repo}:pull"])]


def test_bearer_anonymous_pull_is_denied(token_registry, token_server, fresh_store, config,
                                         repo):
    ref = f"{token_registry.host}/{repo}:v1"
    with pytest.raises(AuthError) as err:
        pull_image(fresh_store, ref, config=config)
    assert str(err.value) == f"pulling {ref}: unauthorized: authentication required"
    assert fresh_store.images() == []


def test_credentials_lookup_accepts_docker_style_keys(settings):
    settings.config_dir.mkdir(parents=True)
    token = base64.b64encode(b"bob:pw:with:colons").decode()
    (settings.config_dir / "config.json").write_text(json.dumps(
        {"auths": {"https://registry.example.com/v2/": {"auth": token},
                   "https://index.docker.io/v1/": {"auth": token}}}))
    config = RegistryConfig.load(settings, env={})
    assert config.credentials("registry.example.com") == Credentials("bob", "pw:with:colons")
    assert config.credentials("docker.io") == Credentials("bob", "pw:with:colons")
    assert config.credentials("other.example.com") is None
