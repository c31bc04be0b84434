"""Idempotency-Key support for creating calls, on Powertools' idempotency utility.

The key is scoped to the caller and the operation, so two callers (or two routes) never share a
record; the request body is hashed too, so reusing a key with another body is refused.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel

from cirrus_core.errors import IdempotencyKeyReused, RequestInProgress
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

ModelT = TypeVar("ModelT", bound=BaseModel)

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
RECORD_TTL_SECONDS = 24 * 3600


@functools.cache
def idempotency_config() -> IdempotencyConfig:
    """One configuration per execution environment."""
    return IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RECORD_TTL_SECONDS,
    )


@functools.cache
def _persistence() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=get_settings().idempotency_table)


def register_context(context: LambdaContext) -> None:
    """Let in-progress records expire with the invocation's remaining time."""
    idempotency_config().register_lambda_context(context)


def run_idempotently(
    *,
    key: str | None,
    scope: str,
    request: BaseModel,
    result_type: type[ModelT],
    operation: Callable[[], ModelT],
) -> ModelT:
    """Run `operation` once per (scope, key): a retry returns the first result, not a second write."""
    if key is None:
        return operation()

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
        data_keyword_argument="idempotency_input",
        config=idempotency_config(),
        persistence_store=_persistence(),
        output_serializer=PydanticSerializer(result_type),
    )
    def once(idempotency_input: dict[str, Any]) -> ModelT:
        return operation()

    try:
        result: ModelT = once(
            idempotency_input={"scope": scope, "key": key, "request": request.model_dump(mode="json")}
        )
    except IdempotencyValidationError as error:
        raise IdempotencyKeyReused(
            f"{IDEMPOTENCY_KEY_HEADER} was already used with a different request body."
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise RequestInProgress(
            f"A request with this {IDEMPOTENCY_KEY_HEADER} is still in progress; retry shortly."
        ) from error
    return result
