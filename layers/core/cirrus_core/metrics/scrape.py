"""The Prometheus scrape token: a bearer token kept in Secrets Manager, compared in constant time."""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING, Any

from cirrus_core.errors import InvalidScrapeToken

if TYPE_CHECKING:
    from collections.abc import Callable


class ScrapeTokens:
    """Reads the token from its secret (cached for `max_age` seconds) and checks Authorization headers."""

    def __init__(
        self, client: Any, secret_id: str, max_age: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._secret_id = secret_id
        self._max_age = max_age
        self._clock = clock
        self._cached: tuple[float, str] | None = None

    def _token(self) -> str:
        now = self._clock()
        if self._cached is None or now - self._cached[0] > self._max_age:
            value = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
            self._cached = (now, str(value).strip())
        return self._cached[1]

    def check(self, authorization: str | None) -> None:
        """Refuse (401 invalid_scrape_token) unless the header is `Bearer <the token>`."""
        if not self._secret_id:
            raise InvalidScrapeToken("Scrape-token mode is not enabled on this deployment.")
        scheme, _, token = (authorization or "").strip().partition(" ")
        expected = self._token()
        if (
            scheme.lower() != "bearer"
            or not expected
            or not hmac.compare_digest(token.strip().encode("utf-8"), expected.encode("utf-8"))
        ):
            raise InvalidScrapeToken("The scrape token is missing or does not match.")
