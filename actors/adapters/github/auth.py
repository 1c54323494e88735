"""GitHub credentials: a token, or a GitHub App acting as one of its installations.

- ``TokenAuth``: a personal access token (or any token) sent as ``Authorization: Bearer``.
- ``AppAuth``: the app's RS256 JWT (``iss`` = app id, ``iat`` 60 s in the past against clock drift,
  ``exp`` 9 minutes ahead; GitHub refuses more than 10) is exchanged at
  ``POST /app/installations/{id}/access_tokens`` for an installation token, which is kept in this
  process until ``REFRESH_MARGIN_S`` before its ``expires_at`` (an hour on GitHub). The token is a
  secret: it lives in memory only, is never written to Redis, and is registered for log redaction.

Neither ever puts a secret into an exception message or a log line.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr, ValidationError

from actors.adapters.github.errors import GitHubAuthError, GitHubAuthUnavailable, error_message
from contracts.github import InstallationToken
from process.logs import get_logger, register_secrets

log = get_logger(__name__)

#: the media type and API version every request names
GITHUB_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "platform-scheduler",
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_private_key(pem: SecretStr | str | bytes) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM text; ``\\n`` escapes (as env files often hold them) are accepted."""
    raw = pem.get_secret_value() if isinstance(pem, SecretStr) else pem
    data = raw.encode() if isinstance(raw, str) else raw
    data = data.replace(b"\\n", b"\n").strip() + b"\n"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # The library's message is safe, but say less: the input is a secret.
        raise GitHubAuthError("the GitHub App private key is not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise GitHubAuthError("the GitHub App private key is not an RSA key (GitHub signs with RS256)")
    return key


class TokenAuth:
    kind = "token"

    def __init__(self, token: SecretStr):
        if not token.get_secret_value().strip():
            raise GitHubAuthError("GITHUB_TOKEN is empty")
        self._token = token

    async def authorization(self, http: httpx.AsyncClient) -> str:
        return f"Bearer {self._token.get_secret_value().strip()}"

    def invalidate(self) -> bool:
        """Forget a refused credential; False: there is nothing to renew, the refusal stands."""
        return False


class AppAuth:
    kind = "app"
    #: an installation token is renewed this long before it expires
    REFRESH_MARGIN_S = 300

    def __init__(
        self,
        app_id: int,
        installation_id: int | None,
        private_key: SecretStr | str | bytes,
        *,
        org: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if installation_id is None and not org:
            raise GitHubAuthError("a GitHub App needs its installation id, or the organisation to look it up")
        self.app_id, self.clock, self.org = int(app_id), clock, org
        self.installation_id = None if installation_id is None else int(installation_id)
        if isinstance(private_key, SecretStr):  # maybe read from GITHUB_APP_PRIVATE_KEY_PATH: learned here
            register_secrets([private_key])
        self._key = load_private_key(private_key)
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        #: installation tokens minted by this process (tests and `status` read it)
        self.tokens_minted = 0

    def jwt(self) -> str:
        """The app's JSON Web Token, valid for 9 minutes from 60 s ago."""
        now = int(self.clock())
        header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
        claims = _b64url(
            json.dumps({"iat": now - 60, "exp": now + 540, "iss": str(self.app_id)}, separators=(",", ":")).encode()
        )
        signature = self._key.sign(f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{claims}.{_b64url(signature)}"

    async def authorization(self, http: httpx.AsyncClient) -> str:
        if self._token is None or self.clock() >= self._expires_at - self.REFRESH_MARGIN_S:
            await self._mint(http)
        assert self._token is not None
        return f"Bearer {self._token.get_secret_value()}"

    def invalidate(self) -> bool:
        """A refused installation token (revoked early): mint a new one on the next request."""
        had = self._token is not None
        self._token, self._expires_at = None, 0.0
        return had

    async def _app_call(
        self, http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], what: str
    ) -> httpx.Response:
        """A request made as the app itself; GitHub failing to answer is transient (retried later)."""
        try:
            response = await http.request(method, path, headers=headers)
        except httpx.TransportError as exc:
            raise GitHubAuthUnavailable(f"{what} failed: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise GitHubAuthUnavailable(f"{what} answered {response.status_code}")
        return response

    async def _discover_installation(self, http: httpx.AsyncClient, headers: dict[str, str]) -> int:
        """``GET /orgs/{org}/installation`` with the app's JWT: the id of its installation there."""
        what = "GitHub App installation lookup"
        response = await self._app_call(http, "GET", f"/orgs/{self.org}/installation", headers, what)
        if response.status_code != 200:
            raise GitHubAuthError(
                f"the GitHub App {self.app_id} has no installation on {self.org} "
                f"({response.status_code}): {error_message(response)}"
            )
        try:
            installation_id = int(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise GitHubAuthUnavailable(f"{what} answered an unreadable body") from None
        log.info("github.installation_found", org=self.org, installation_id=installation_id)
        return installation_id

    async def _mint(self, http: httpx.AsyncClient) -> None:
        headers = {**GITHUB_HEADERS, "Authorization": f"Bearer {self.jwt()}"}
        if self.installation_id is None:
            self.installation_id = await self._discover_installation(http, headers)
        what = "GitHub App token exchange"
        path = f"/app/installations/{self.installation_id}/access_tokens"
        response = await self._app_call(http, "POST", path, headers, what)
        if response.status_code != 201:
            raise GitHubAuthError(
                f"GitHub refused the app's token exchange for installation "
                f"{self.installation_id} ({response.status_code}): {error_message(response)}"
            )
        try:
            token = InstallationToken.model_validate(response.json())
        except (ValueError, ValidationError):
            raise GitHubAuthUnavailable(f"{what} answered an unreadable body") from None
        register_secrets([token.token])  # minted at run time: no setting held it
        self._token, self._expires_at = token.token, token.expires_at.timestamp()
        self.tokens_minted += 1
        log.info(
            "github.installation_token", installation_id=self.installation_id, expires_at=token.expires_at.isoformat()
        )


Auth = TokenAuth | AppAuth
