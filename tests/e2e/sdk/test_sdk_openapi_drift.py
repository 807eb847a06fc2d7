"""The SDK cannot drift from the API: every operation, parameter, enum and documented object of the
running gateway's /openapi.json is checked against the SDK's declarations (and each object the API
answers is checked against its model by the other SDK tests, `exact.py`)."""

from __future__ import annotations

import inspect
import re
from typing import Any, Literal, get_args

import httpx
import pytest
from pydantic import BaseModel

from meterflow_client import EventOnRecord, Meterflow, ReplayJob
from meterflow_client._operations import Operation, PagedOperation, Resource
from meterflow_client.resources import (
    alerts,
    invoices,
    metrics,
    payments,
    payout_accounts,
    plans,
    subscriptions,
    webhook_endpoints,
)

AnyOperation = Operation[Any, Any] | PagedOperation[Any, Any]
# The objects whose shape the OpenAPI document gives (the others are checked on live answers).
DOCUMENTED: dict[str, type[BaseModel]] = {"EventOut": EventOnRecord, "JobOut": ReplayJob}
HEADER_KEYED = {"POST", "PUT", "PATCH"}
# Routes of the API that no client of it calls, each with why: they are left out of the comparison.
NOT_FOR_THE_SDK = {
    ("POST", "/v1/providers/{}/webhooks"): "a payment provider's own callback: it is authenticated by the "
                                           "provider's signature, not an API key, and only the provider sends it",
}


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def sdk_operations() -> dict[tuple[str, str], AnyOperation]:
    client = Meterflow(api_key="unused", base_url="http://unused")
    found: dict[tuple[str, str], AnyOperation] = {}
    for resource in vars(client).values():
        if not isinstance(resource, Resource):
            continue
        for klass in type(resource).__mro__:
            for member in vars(klass).values():
                if isinstance(member, Operation | PagedOperation):
                    key = (member.method, _template(member.route))
                    assert key not in found or found[key] is member, f"two SDK methods for {key}"
                    found[key] = member
    client.close()
    return found


@pytest.fixture
def openapi(base_url: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{base_url}/openapi.json", timeout=30).raise_for_status().json()
    return document


def _api_operations(openapi: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {(method.upper(), _template(path)): op for path, ops in openapi["paths"].items()
             if path.startswith("/v1/") for method, op in ops.items()}
    return {key: op for key, op in found.items() if key not in NOT_FOR_THE_SDK}


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A body schema's variants through their `$ref`: one for a plain body (and for `anyOf [X, null]` of an
    optional body), one per provider for a `oneOf` body discriminated by a field."""
    schemas = openapi["components"]["schemas"]
    options = [o for o in schema.get("oneOf", schema.get("anyOf", [schema])) if o.get("type") != "null"]
    return [schemas[o["$ref"].rsplit("/", 1)[1]] if "$ref" in o else o for o in options]


def _sdk_parameters(operation: AnyOperation, api_names: set[str]) -> tuple[set[str], set[str]]:
    """The wire names of an SDK method's parameters other than the path's (all, and those required). Its
    `idempotency_key` is the Idempotency-Key header, unless the API's body has a field of that name too."""
    params = list(inspect.signature(operation.build).parameters.values())[operation.route.count("{"):]
    if operation.method in HEADER_KEYED and "idempotency_key" not in api_names:
        params = [p for p in params if p.name != "idempotency_key"]
    names = {p.name.rstrip("_"): p for p in params}  # `from_` is the API's `from`
    return set(names), {n for n, p in names.items() if p.default is inspect.Parameter.empty}


def _api_parameters(openapi: dict[str, Any], operation: dict[str, Any]) -> tuple[set[str], set[str]]:
    """A body of several variants takes the fields of each; required are those every variant requires."""
    query = [p for p in operation.get("parameters", []) if p["in"] == "query" and p["name"] != "starting_after"]
    names, required = {p["name"] for p in query}, {p["name"] for p in query if p.get("required")}
    if "requestBody" in operation:
        variants = _resolve(openapi, operation["requestBody"]["content"]["application/json"]["schema"])
        names |= set().union(*(v["properties"] for v in variants))
        required |= set.intersection(*(set(v.get("required", [])) for v in variants))
    return names, required


def test_every_api_operation_has_one_sdk_method_and_no_sdk_method_is_unknown(openapi: dict[str, Any]) -> None:
    """A new route fails here until the SDK serves it: one module in clients/python/.../resources/."""
    sdk, api = set(sdk_operations()), set(_api_operations(openapi))
    assert not api - sdk, f"routes without an SDK method: {sorted(api - sdk)}"
    assert not sdk - api, f"SDK methods the API does not serve: {sorted(sdk - api)}"


def test_each_sdk_method_takes_exactly_the_api_parameters(openapi: dict[str, Any]) -> None:
    api = _api_operations(openapi)
    for key, operation in sdk_operations().items():
        api_names, api_required = _api_parameters(openapi, api[key])
        sdk_names, sdk_required = _sdk_parameters(operation, api_names)
        assert sdk_names == api_names, f"{key}: SDK {sorted(sdk_names)} vs API {sorted(api_names)}"
        assert sdk_required == api_required, f"{key}: required SDK {sorted(sdk_required)} vs API {sorted(api_required)}"
        pages = "starting_after" in {p["name"] for p in api[key].get("parameters", [])}
        assert isinstance(operation, PagedOperation) == pages, f"{key}: paged in the API, not in the SDK or back"


def _enum(openapi: dict[str, Any], name: str) -> set[str]:
    return set(openapi["components"]["schemas"][name]["enum"])


def _literal(alias: Any) -> set[str]:
    return set(get_args(alias))


def test_the_sdk_closed_sets_are_the_api_enums(openapi: dict[str, Any]) -> None:
    assert _literal(metrics.Aggregation) == _enum(openapi, "Aggregation")
    assert _literal(plans.BillingPeriod) == _enum(openapi, "BillingInterval")
    assert _literal(plans.PlanType) == _enum(openapi, "PlanType")
    assert _literal(invoices.InvoiceStatus) == _enum(openapi, "InvoiceStatus")
    assert _literal(webhook_endpoints.EventType) == _enum(openapi, "EventType") | {"*"}
    assert _literal(webhook_endpoints.EndpointStatus) == _enum(openapi, "EndpointStatus")
    assert _literal(payments.Provider) == _enum(openapi, "Provider")
    assert _literal(payments.SetupCurrency) == _enum(openapi, "SetupCurrency")
    assert _literal(payout_accounts.PayoutMethod) == _enum(openapi, "PayoutMethod")
    assert _literal(alerts.AlertType) == _enum(openapi, "AlertType")
    assert _literal(alerts.AlertScope) == _enum(openapi, "AlertScope")
    status = next(p for p in openapi["paths"]["/v1/subscriptions"]["get"]["parameters"] if p["name"] == "status")
    assert _literal(subscriptions.SubscriptionStatus) == set(status["schema"]["anyOf"][0]["enum"])
    assert _literal(Literal["count"]) == {"count"}  # the helper itself reads a Literal's values


def _references(node: Any) -> set[str]:
    """The component names a part of the document refers to, however deep."""
    if isinstance(node, dict):
        own = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_references(value) for value in node))
    return set()


def test_the_objects_the_api_documents_have_the_sdk_models_fields(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    answered = {name for name in _references(openapi["paths"]) if name.endswith("Out")}
    assert answered <= set(DOCUMENTED), f"document these in DOCUMENTED: {sorted(answered - set(DOCUMENTED))}"
    for name, model in DOCUMENTED.items():
        assert set(schemas[name]["properties"]) == set(model.model_fields), name
        required = {f for f, info in model.model_fields.items() if info.is_required()}
        assert set(schemas[name].get("required", [])) == required, name
    assert set(schemas["Error"]["required"]) == {"error", "type", "param", "details"}
