"""login and logout: check credentials against a registry, then store or forget them.

Login proves the credentials the way the registry asks: with a Bearer challenge
the token server must issue a token for them, with Basic `/v2/` must accept them.
Only then are they written to config.json, so a typo never replaces a working login.
"""

from __future__ import annotations

from minidock.errors import AuthError, UsageError
from minidock.registry.client import DeniedError, RegistryClient
from minidock.registry.config import Credentials, RegistryConfig
from minidock.registry.endpoint import registry_endpoint
from minidock.registry.transport import Transport
from minidock.settings import Settings


def login(settings: Settings, registry: str, username: str, password: str, *,
          config: RegistryConfig | None = None, transport: Transport | None = None) -> str:
    """Verify and store credentials; returns the registry name they were stored under."""
    if not username:
        raise UsageError("login needs a username")
    if not password:
        raise UsageError("login needs a password")
    config = config or RegistryConfig.load(settings)
    endpoint = registry_endpoint(registry, config)
    creds = Credentials(username, password)
    try:
        with RegistryClient(endpoint, "", credentials=creds, transport=transport) as client:
            client.check_login()
    except DeniedError as exc:
        raise AuthError(f"login to {endpoint.registry} failed: {exc.message}") from None
    except AuthError as exc:
        exc.message = f"login to {endpoint.registry} failed: {exc.message}"
        exc.args = (exc.message,)
        raise
    config.set_credentials(endpoint.registry, creds)
    return endpoint.registry


def logout(settings: Settings, registry: str, *, config: RegistryConfig | None = None) -> bool:
    """Forget stored credentials; False when there were none for this registry."""
    config = config or RegistryConfig.load(settings)
    return config.remove_credentials(registry)
