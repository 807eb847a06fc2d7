"""Every input class has a documented domain (docs/input-domains.md): a value outside it is a 400 naming
the field, never a 500, and nothing of it is stored. One test per class, against the running gateway."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.input_answers import refused
from tests.e2e.scenario import Setup, billing_setup, created, event, ingest, usage
from tests.support import eventually, unique


async def rejected_event(api: httpx.AsyncClient, setup: Setup, body: bytes) -> str:
    """The one event of a raw batch is rejected, so the batch is a 400 whose details name its field."""
    response = await api.post("/v1/ingest", content=b'{"events": [' + body + b"]}")
    assert response.status_code == 400, response.text
    [(param, message)] = response.json()["details"].items()
    return f"{param}: {message}"


def customer(**fields: Any) -> dict[str, Any]:
    return {"external_id": unique("ext"), "name": "Acme", **fields}


def raw_event(setup: Setup, properties: bytes = b"{}", **fields: str) -> bytes:
    head = ", ".join(f'"{k}": "{v}"' for k, v in {"event_name": setup.event_name, "customer_id": setup.customer_id,
                                                     "idempotency_key": unique("req"), **fields}.items())
    return b"{" + head.encode() + b', "properties": ' + properties + b"}"


@pytest.mark.parametrize("number", [b"1e9999999", b"1e400", b"-1e18", b"0.1234567890123456789", b"[1e19]"])
async def test_numeric_property_values_outside_the_value_domain_are_rejected(api: httpx.AsyncClient,
                                                                           number: bytes) -> None:
    setup = await billing_setup(api, aggregation="sum", prop="v")
    error = await rejected_event(api, setup, raw_event(setup, b'{"v": ' + number + b"}"))
    assert error.startswith("events[0].properties.v"), error


async def test_numeric_property_edges_are_accepted_exactly(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api, aggregation="sum", prop="v")
    answer = await api.post("/v1/ingest", content=b'{"events": [' + raw_event(
        setup, b'{"v": 999999999999999999.999999999999999999}') + b"]}")
    assert answer.status_code == 202 and len(answer.json()["ingested"]) == 1, answer.text


async def test_only_json_number_shaped_ascii_strings_are_quantities(api: httpx.AsyncClient) -> None:
    """`"12.5"` bills 12.5; `"1_000"`, `" 12 "`, Arabic-Indic `"١٢"` and other text `Decimal` would read
    are unbillable: counted as events, valued by nothing."""
    setup = await billing_setup(api, aggregation="sum", prop="v")
    numbers = ["12.5", "+1", "-2", "1e1", "007"]
    text = ["1_000", " 12 ", "\u0661\u0662", "12.", ".5", "0x10", "1e9999999", "NaN", "12\n", "\uff11"]
    await ingest(api, [event(setup, properties={"v": v}) for v in [*numbers, *text]])
    figure = await eventually(lambda: usage(api, setup), lambda u: u["unbillable_count"] == len(text))
    assert (figure["value_exact"], figure["event_count"]) == ("28.5", len(numbers)), figure  # 12.5+1-2+10+7


@pytest.mark.parametrize("start_date", ["0001-01-01T00:00:00Z", "9999-12-31T23:00:00Z", "1999-12-31T23:00:00Z",
                                        "2200-01-01T00:00:00Z", 1767225600, "2026-01-01", "2026-01-01T00:00:00"])
async def test_start_dates_outside_2000_to_2199_or_not_rfc3339_are_400(api: httpx.AsyncClient,
                                                                      start_date: object) -> None:
    setup = await billing_setup(api)
    refused(await api.post("/v1/subscriptions", json={"customer_id": setup.customer_id, "plan_id": setup.plan_id,
                                                      "start_date": start_date}), "start_date")


@pytest.mark.parametrize(("window", "param"), [
    ({"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:00:00Z"}, "from"),
    ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ({"from": "1767225600", "to": "2026-01-01T00:00:00Z"}, "from"),
    ({"from": "2026-01-01T00:00:00Z"}, "to"),
])
async def test_usage_windows_are_bounded(api: httpx.AsyncClient, window: dict[str, str], param: str) -> None:
    setup = await billing_setup(api)
    refused(await api.get("/v1/usage", params={"customer_id": setup.customer_id, "metric_id": setup.metric_id,
                                                **window}), param)


async def test_nul_and_overlong_text_is_400_in_paths_queries_and_bodies(api: httpx.AsyncClient) -> None:
    refused(await api.get("/v1/customers/cus_%00x"), "object_id")
    refused(await api.get("/v1/customers/" + "c" * 65), "object_id")
    refused(await api.get("/v1/invoices", params={"customer_id": "cus_\x00"}), "customer_id")
    refused(await api.get("/v1/customers", params={"starting_after": "cus_\x00"}), "starting_after")
    refused(await api.post("/v1/customers", json=customer(name="Ac\x00me")), "name")
    refused(await api.post("/v1/customers", json=customer(name="x" * 256)), "name")
    refused(await api.post("/v1/customers", content=b'{"external_id": "e\\ud800", "name": "A"}'), "external_id")
    bad_key = await api.post("/v1/customers", content=b'{"external_id": "e", "name": "A", "metadata": {"k\\ud800": 1}}')
    assert bad_key.status_code == 400 and bad_key.json()["param"].startswith("metadata.k"), bad_key.text
    assert list(bad_key.json()["details"]) == [bad_key.json()["param"]]


async def test_text_faults_in_events_reject_the_event(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    lone_surrogate = await rejected_event(api, setup, raw_event(setup, idempotency_key="k\\ud800"))
    assert lone_surrogate.startswith("events[0].idempotency_key"), lone_surrogate
    nul_property = await rejected_event(api, setup, raw_event(setup, b'{"path": "/a\\u0000"}'))
    assert nul_property.startswith("events[0].properties.path"), nul_property
    nul_id = await rejected_event(api, setup, raw_event(setup, customer_id="cus_\\u0000"))
    assert nul_id.startswith("events[0].customer_id"), nul_id
    surrogate_key = await rejected_event(api, setup, raw_event(setup, b'{"k\\udc00": 1}'))
    assert surrogate_key.startswith("events[0].properties.k\\udc00"), surrogate_key


async def test_json_bodies_are_bounded_in_size_and_nesting_on_every_endpoint(api: httpx.AsyncClient) -> None:
    refused(await api.post("/v1/customers", json=customer(name="A", metadata={"blob": "x" * 70_000})), "body", 413)
    refused(await api.post("/v1/ingest", content=b'{"events": [' + b'"x",' * 300_000 + b'"x"]}'), "body", 413)
    deep = b"[" * 260 + b"]" * 260
    refused(await api.post("/v1/customers", content=b'{"name": "A", "metadata": {"a": ' + deep + b"}}"), "body")
    refused(await api.post("/v1/ingest", content=b'{"events": [' + deep + b"]}"), "events[0]")  # not an event
    refused(await api.post("/v1/ingest", content=b'{"events": [' + deep[:-1] + b"]}"), "body")  # not JSON
    refused(await api.post("/v1/customers", content=b'{"name": "A", "metadata": {"a": NaN}}'), "body")


@pytest.mark.parametrize(("metadata", "inner"), [
    (b'{"n": 1e400}', "n"),
    (b'{"n": [1, -1e18]}', "n[1]"),
    (b'{"a": {"b": {"c": {"d": {"e": []}}}}}', "a.b.c.d.e"),
    (b'{"' + b"k" * 41 + b'": 1}', "k" * 41),
    (b"[1]", ""),
])
async def test_metadata_is_a_bounded_object_with_exact_numbers(api: httpx.AsyncClient, metadata: bytes,
                                                              inner: str) -> None:
    """The 400 names `metadata`; its message names the path inside it."""
    body = b'{"external_id": "' + unique("ext").encode() + b'", "name": "A", "metadata": ' + metadata + b"}"
    error = refused(await api.post("/v1/customers", content=body), "metadata")
    assert inner in error["error"]
    assert (await api.get("/v1/customers")).status_code == 200


async def test_metadata_numbers_are_kept_exactly(api: httpx.AsyncClient) -> None:
    body = b'{"external_id": "' + unique("ext").encode() + b'", "name": "A", "metadata": {"n": 0.10000000000000001}}'
    made = await created(await api.post("/v1/customers", content=body))
    again = await api.get(f"/v1/customers/{made['id']}")
    assert b'"n":0.10000000000000001' in again.content.replace(b" ", b"")


async def test_event_timestamps_are_rfc3339_strings_only(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    for timestamp in (1767225600, "2026-01-01", "2026-01-01T00:00:00"):
        answer = await api.post("/v1/ingest", json={"events": [event(setup, timestamp=timestamp)]})
        assert answer.status_code == 400 and list(answer.json()["details"]) == ["events[0].timestamp"], answer.text


@pytest.mark.parametrize(("path", "field", "value"), [
    ("/v1/plans", "plan_type", "subscription"), ("/v1/plans", "billing_period", "hourly"),
    ("/v1/metrics", "aggregation", "median"), ("/v1/plans", "currency", "XYZ"),
])
async def test_enumerations_are_closed(api: httpx.AsyncClient, path: str, field: str, value: str) -> None:
    setup = await billing_setup(api)
    bodies: dict[str, dict[str, Any]] = {"/v1/plans": {"name": "P", "currency": "NGN", "prices": [
        {"metric_id": setup.metric_id, "model": "flat", "unit_price": "1"}]},
        "/v1/metrics": {"name": "M", "event_name": "e", "aggregation": "sum", "aggregation_property": "v"}}
    refused(await api.post(path, json={**bodies[path], field: value}), field)


@pytest.mark.parametrize("email", ["a@b", "a@b.", "a@.b", "a@b..c", "a b@c.d", "@b.c", "a@b@c.d", "a\x01@b.c"])
async def test_an_email_needs_a_dotted_domain(api: httpx.AsyncClient, email: str) -> None:
    refused(await api.post("/v1/customers", json=customer(email=email)), "email")


async def test_an_email_with_a_dotted_domain_in_any_script_is_kept(api: httpx.AsyncClient) -> None:
    made = await created(await api.post("/v1/customers", json=customer(email="ops+billing@b\u00fccher.example")))
    assert made["email"] == "ops+billing@b\u00fccher.example"


@pytest.mark.parametrize("name", ["Ac\tme", "Ac\nme", "Ac\x1bme", "Ac\x7fme", "Ac\x85me", "Acme\u202egpj.exe",
                                  "\u2066Acme\u2069", "Ac\u202ame"])
async def test_names_refuse_control_and_bidirectional_override_characters(api: httpx.AsyncClient, name: str) -> None:
    refused(await api.post("/v1/customers", json=customer(name=name)), "name")
    refused(await api.post("/v1/customers", json=customer(external_id=name)), "external_id")
    refused(await api.post("/v1/plans", json={"name": name}), "name")


async def test_names_in_any_script_with_bidirectional_marks_are_kept(api: httpx.AsyncClient) -> None:
    name = "\u0634\u0631\u0643\u0629 \u200fAcme \u00c9t\u00e9"  # Arabic, a right-to-left mark, Latin
    assert (await created(await api.post("/v1/customers", json=customer(name=name))))["name"] == name


@pytest.mark.parametrize(("window", "message"), [
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "must be after from"),
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "must be after from"),
    ({"from": "2020-01-01T00:00:00Z", "to": "2120-01-01T00:00:00Z"}, "at most 400 days"),
])
async def test_events_replays_and_usage_share_one_window_rule(api: httpx.AsyncClient, window: dict[str, str],
                                                               message: str) -> None:
    setup = await billing_setup(api)
    usage_error = refused(await api.get("/v1/usage", params={"customer_id": setup.customer_id, **window}), "to")
    events_error = refused(await api.get("/v1/events", params=window), "to")
    replay_error = refused(await api.post("/v1/events/replay", json=window), "to")
    assert message in usage_error["details"]["to"] and message in events_error["details"]["to"], events_error
    assert message in replay_error["details"]["to"], replay_error


async def test_an_event_nested_past_the_body_bound_is_refused_alone_naming_its_path(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    deep = b'{"a": ' * 40 + b"1" + b"}" * 40
    valid, too_deep = raw_event(setup), raw_event(setup, deep, idempotency_key=unique("deep"))
    answer = await api.post("/v1/ingest", content=b'{"events": [' + valid + b", " + too_deep + b"]}")
    assert answer.status_code == 202 and len(answer.json()["ingested"]) == 1, answer.text
    [rejected] = answer.json()["rejected"]
    assert rejected["index"] == 1 and rejected["idempotency_key"].startswith("deep_"), rejected
    assert rejected["error"] == "events[1].properties" + ".a" * 8 + ": is nested too deeply", rejected
    alone = await rejected_event(api, setup, too_deep)
    assert alone == "events[0].properties" + ".a" * 8 + ": is nested too deeply", alone


async def test_a_deep_batch_that_is_not_json_or_too_large_to_split_is_refused_whole(api: httpx.AsyncClient) -> None:
    setup = await billing_setup(api)
    deep = b'{"a": ' * 40 + b"1" + b"}" * 40
    broken = raw_event(setup, deep.replace(b"1}", b"1,}", 1))  # malformed inside the part that nests too deeply
    refused(await api.post("/v1/ingest", content=b'{"events": [' + raw_event(setup) + b", " + broken + b"]}"), "body")
    huge = b"[" * 110_000 + b"]" * 110_000  # more brackets than are split on the event loop
    refused(await api.post("/v1/ingest", content=b'{"events": [' + raw_event(setup) + b", " + huge + b"]}"), "body")
