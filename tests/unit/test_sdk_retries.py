"""The SDK's own transport layer against a wire double (httpx's MockTransport): which answers are
retried, after how long, with which Idempotency-Key, and which typed error ends a call."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest

from meterflow_client import (
    APIConnectionError,
    APIError,
    AsyncMeterflow,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    Meterflow,
    RateLimitError,
    RetryPolicy,
)
from meterflow_client.errors import ERROR_TYPES
from meterflow_client.retries import retry_after_s, retryable_status
from services.gateway.errors import ErrorType

NO_WAIT = RetryPolicy(max_retries=3, initial_delay_s=0, max_delay_s=0)
CUSTOMER: dict[str, object] = {
    "id": "cus_1", "org_id": "org", "external_id": "acme", "name": "Acme", "email": None, "phone": None,
    "metadata": {}, "created_at": "2026-12-05T00:00:00Z", "updated_at": "2026-12-05T00:00:00Z"}
Handler = Callable[[httpx.Request], httpx.Response]


def error(status: int, kind: str, param: str | None = None, **headers: str) -> httpx.Response:
    details = {param or "body": "bad"} if status == 400 else {}
    return httpx.Response(status, json={"error": "refused", "type": kind, "param": param, "details": details},
                          headers=headers)


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A wire that gives these answers in order (an exception is a connection failure) and records what it
    was sent."""
    seen: list[httpx.Request] = []
    pending: Iterator[httpx.Response | Exception] = iter(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(pending)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def sync_client(handler: Handler, policy: RetryPolicy = NO_WAIT) -> Meterflow:
    return Meterflow(api_key="sk_test", base_url="http://api.test", retry_policy=policy,
                     http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_a_create_retried_after_drops_and_503_sends_one_key_and_the_same_bytes() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), error(503, "api_error", **{"Retry-After": "0"}),
                             httpx.ReadError("dropped"), httpx.Response(201, json={"customer": CUSTOMER}))
    customer = sync_client(handler).customers.create(external_id="acme", name="Acme")
    assert customer.id == "cus_1" and len(seen) == 4
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 1
    assert len({r.content for r in seen}) == 1 and seen[0].headers["Authorization"] == "Bearer sk_test"


def test_two_logical_calls_get_two_keys_and_a_given_key_is_sent_as_is() -> None:
    handler, seen = scripted(*[httpx.Response(201, json={"customer": CUSTOMER})] * 3)
    client = sync_client(handler)
    client.customers.create(external_id="a", name="A")
    client.customers.create(external_id="a", name="A")
    client.customers.create(external_id="a", name="A", idempotency_key="order-42")
    keys = [r.headers["Idempotency-Key"] for r in seen]
    assert keys[0] != keys[1] and keys[2] == "order-42"


def test_reads_carry_no_key() -> None:
    handler, seen = scripted(httpx.Response(200, json={"customer": CUSTOMER}))
    sync_client(handler).customers.get("cus_1")
    assert "Idempotency-Key" not in seen[0].headers


@pytest.mark.parametrize(("answer", "raised"), [
    (error(400, "invalid_request_error", "name"), InvalidRequestError),
    (error(400, "idempotency_error", "Idempotency-Key"), IdempotencyError),
    (error(409, "conflict_error", "external_id"), ConflictError),
])
def test_a_refusal_of_the_request_itself_is_raised_at_once(answer: httpx.Response, raised: type[Exception]) -> None:
    handler, seen = scripted(answer)
    with pytest.raises(raised) as caught:
        sync_client(handler).customers.create(external_id="acme", name="Acme")
    assert len(seen) == 1
    assert isinstance(caught.value, InvalidRequestError | ConflictError)
    assert caught.value.param == answer.json()["param"] and caught.value.details == answer.json()["details"]


def test_a_conflict_still_in_flight_is_retried_with_the_same_key() -> None:
    handler, seen = scripted(error(409, "conflict_error", "Idempotency-Key"),
                             httpx.Response(201, json={"customer": CUSTOMER}))
    sync_client(handler).customers.create(external_id="acme", name="Acme")
    assert len(seen) == 2 and seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


def test_retries_stop_at_the_limit_with_the_last_typed_error() -> None:
    handler, seen = scripted(*[error(429, "rate_limit_error", **{"Retry-After": "0"})] * 3)
    with pytest.raises(RateLimitError) as caught:
        sync_client(handler, RetryPolicy(max_retries=2, initial_delay_s=0, max_delay_s=0)).customers.get("cus_1")
    assert len(seen) == 3 and caught.value.retry_after == "0"


def test_no_answer_after_every_attempt_is_a_connection_error() -> None:
    handler, seen = scripted(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(APIConnectionError):
        sync_client(handler).customers.get("cus_1")
    assert len(seen) == 4


def test_a_request_this_client_cannot_make_is_not_retried() -> None:
    handler, seen = scripted(httpx.UnsupportedProtocol("no such scheme"), httpx.Response(200, json={}))
    with pytest.raises(APIConnectionError):
        sync_client(handler).customers.get("cus_1")
    assert len(seen) == 1


def test_an_answer_without_the_error_body_is_classed_by_its_status() -> None:
    handler, _ = scripted(*[httpx.Response(502, text="<html>bad gateway</html>")] * 4)
    with pytest.raises(APIError) as caught:
        sync_client(handler).customers.get("cus_1")
    assert caught.value.status_code == 502


def test_the_sdk_knows_every_error_type_the_api_answers() -> None:
    assert {t.value for t in ErrorType} == ERROR_TYPES


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=10, initial_delay_s=0.5, max_delay_s=4)
    assert [policy.delay_s(n, jitter=lambda: 0.0) for n in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [policy.delay_s(n, jitter=lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay_s(0, "7", jitter=lambda: 0.0) == 7.0
    assert policy.delay_s(0, "3600", jitter=lambda: 1.0) == 0.5  # beyond max_retry_after_s: our own backoff
    now = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert retry_after_s(format_datetime(datetime(2026, 12, 5, 10, 0, 30, tzinfo=UTC), usegmt=True), now) == 30.0
    assert retry_after_s("soon", now) is None


@pytest.mark.parametrize(("status", "param", "retried"), [
    (408, None, True), (429, None, True), (500, None, True), (503, None, True), (400, "x", False),
    (401, None, False), (404, "id", False), (409, "external_id", False), (409, "Idempotency-Key", True),
])
def test_which_statuses_are_retried(status: int, param: str | None, retried: bool) -> None:
    assert retryable_status(status, {"param": param}) is retried


def test_pages_are_walked_with_starting_after_until_has_more_is_false() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("starting_after")
        start = 0 if after is None else int(after.removeprefix("cus_")) + 1
        page = [{**CUSTOMER, "id": f"cus_{n}"} for n in range(start, min(start + 100, 250))]
        return httpx.Response(200, json={"customers": page, "count": len(page), "has_more": start + 100 < 250})

    ids = [c.id for c in sync_client(handle).customers.list(limit=100)]
    assert ids == [f"cus_{n}" for n in range(250)]


def test_usage_figures_are_read_digit_for_digit_and_pages_follow_the_last_rollups_customer() -> None:
    rollup = {"id": "rlp", "org_id": "org", "customer_id": "cus_a", "metric_id": "met", "aggregation": "sum",
              "period_start": "2026-12-01T00:00:00Z", "period_end": "2027-01-01T00:00:00Z", "event_count": 2,
              "unbillable_count": 0, "last_event_at": None, "is_test": True,
              "created_at": "2026-12-05T00:00:00Z", "updated_at": "2026-12-05T00:00:00Z"}
    pages = {None: ({**rollup, "value": "<number>", "value_exact": "0.10000000000000001"}, True),
             "cus_a": ({**rollup, "customer_id": "cus_b", "value": "<number>", "value_exact": "3"}, False)}
    asked: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("starting_after")
        asked.append(after)
        item, more = pages[after]
        answer = json.dumps({"rollups": [item], "count": 1, "has_more": more})
        number = "0.10000000000000001" if after is None else "3"  # a JSON number no float holds, then another
        return httpx.Response(200, content=answer.replace('"<number>"', number).encode())

    first, second = sync_client(handle).usage.get(limit=1).to_list()
    assert first.value == first.value_exact == Decimal("0.10000000000000001")
    assert (second.customer_id, second.value, asked) == ("cus_b", Decimal(3), [None, "cus_a"])


async def test_the_async_client_retries_with_the_same_key() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(201, json={"customer": CUSTOMER}))
    async with AsyncMeterflow(api_key="sk_test", base_url="http://api.test", retry_policy=NO_WAIT,
                              http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler))) as client:
        customer = await client.customers.create(external_id="acme", name="Acme")
    assert customer.name == "Acme" and len(seen) == 2
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


def test_the_key_and_address_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MF_API_KEY", "sk_env")
    monkeypatch.setenv("MF_BASE_URL", "http://env.test/")
    handler, seen = scripted(httpx.Response(200, json={"customer": CUSTOMER}))
    Meterflow(http_client=httpx.Client(transport=httpx.MockTransport(handler))).customers.get("cus_1")
    assert str(seen[0].url) == "http://env.test/v1/customers/cus_1"
    assert seen[0].headers["Authorization"] == "Bearer sk_env"
