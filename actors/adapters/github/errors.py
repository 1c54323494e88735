"""What the GitHub adapter raises, and how it reads GitHub's error bodies."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from contracts.github import BasicError
from process.errors import ConfigurationError, TransientError


class GitHubError(Exception):
    """Anything this adapter raises about GitHub."""


class GitHubAPIError(GitHubError):
    """GitHub refused the request (401, a 403 that is no rate limit, 404 ...): not retried."""

    def __init__(self, status: int, url: str, message: str):
        self.status, self.url, self.message = status, url, message
        super().__init__(f"GitHub answered {status} to GET {url}: {message}")


class GitHubResponseError(GitHubError):
    """An answer that is not what GitHub documents (not a list, a Link to another origin)."""


class GitHubUnavailable(GitHubError, TransientError):
    """5xx, network errors or unreadable bodies on every attempt."""


class GitHubAuthError(GitHubError, ConfigurationError):
    """The credentials were refused or are not usable: a configuration problem, not retried."""


class GitHubAuthUnavailable(TransientError):
    """GitHub did not answer the token exchange usefully (5xx, network): worth a later retry."""


def basic_error(response: httpx.Response) -> BasicError:
    """GitHub's error body (``message``, ``documentation_url``), or the text as its message."""
    try:
        return BasicError.model_validate(response.json())
    except (ValueError, ValidationError):
        return BasicError(message=response.text[:300])


def error_message(response: httpx.Response) -> str:
    """A short message for a log line or an exception."""
    return basic_error(response).message[:300] or response.reason_phrase
