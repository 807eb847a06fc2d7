"""Library exceptions that mean "a dependency is away" become `Unavailable` (retried); the records' own
faults stay as they are (isolated and dead-lettered). A mistake here either dead-letters the whole stream
during an outage or retries one poison record forever."""

from __future__ import annotations

import socket

import asyncpg.exceptions as pg
import pytest
import redis.exceptions as redis_errors
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)

from meterflow.adapters.failures import categorised
from meterflow.application.failure_policy import Action, action_for
from meterflow.domain.errors import Conflict, FieldError, NotFound, Unavailable


@pytest.mark.parametrize("error", [
    redis_errors.ConnectionError("refused"), redis_errors.TimeoutError(), redis_errors.BusyLoadingError(),
    redis_errors.ReadOnlyError(), redis_errors.OutOfMemoryError(), pg.ConnectionDoesNotExistError("gone"),
    pg.CannotConnectNowError("starting"), pg.TooManyConnectionsError("full"), pg.SerializationError("retry"),
    pg.AdminShutdownError("bye"),
    pg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    KafkaConnectionError(), KafkaTimeoutError(), NotLeaderForPartitionError(), ConnectionRefusedError(),
    socket.gaierror(-2, "Name or service not known"),
    TimeoutError(), Unavailable("down")])
def test_a_dependency_away_is_unavailable_and_retried(error: Exception) -> None:
    category = categorised(error)
    assert isinstance(category, Unavailable) and action_for(category) is Action.RETRY
    assert category is error or category.__cause__ is error


@pytest.mark.parametrize("error", [
    ValueError("surrogates not allowed"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate"),
    pg.CharacterNotInRepertoireError("0x00"), pg.DataError("invalid input for query argument"),
    redis_errors.ResponseError("WRONGTYPE"), MessageSizeTooLargeError(), ArithmeticError(),
    FieldError("properties.n", "too large"), Conflict("taken"), NotFound("customer", "cus_1")])
def test_a_fault_of_the_records_is_isolated(error: Exception) -> None:
    assert categorised(error) is error and action_for(error) is Action.ISOLATE
