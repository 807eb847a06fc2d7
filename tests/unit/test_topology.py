"""`meterflow run --scale`: what each count means, and that copies of a service never share a port."""

from __future__ import annotations

import pytest

from services.topology import MAX_COPIES, ScaleError, instances, parse_scale

WEB_PORTS = {"processor": 8081, "closer": 8082, "webhooks": 8083, "payments": 8084}


def test_services_not_named_keep_one_process_and_the_gateways_own_setting() -> None:
    assert parse_scale("") == {}
    assert parse_scale(" processor=3 , closer=2,") == {"processor": 3, "closer": 2}
    plan = instances({}, WEB_PORTS)
    assert [(i.kind, i.name) for i in plan] == [(k, k) for k in ("gateway", "processor", "closer", "webhooks",
                                                                  "payments")]
    assert all(i.env == {} for i in plan)  # the single-process default is exactly what it was


@pytest.mark.parametrize("text", ["processor", "processors=2", "processor=0", f"closer={MAX_COPIES + 1}",
                                  "gateway=two", "gateway=-1"])
def test_a_scale_naming_no_service_or_no_sensible_count_is_refused(text: str) -> None:
    with pytest.raises(ScaleError):
        parse_scale(text)


def test_gateways_share_the_api_port_and_other_copies_each_get_a_web_port_of_their_own() -> None:
    plan = instances(parse_scale("gateway=2,processor=3,closer=2,webhooks=2,payments=2"), WEB_PORTS)
    assert [i.name for i in plan] == ["gateway", "processor", "processor-2", "processor-3", "closer", "closer-2",
                                      "webhooks", "webhooks-2", "payments", "payments-2"]
    assert plan[0].env == {"MF_GATEWAY_WORKERS": "2"}
    assert plan[1].env == {} and plan[4].env == {}  # the first copy keeps the configured port
    extra_ports = [value for i in plan[1:] for value in i.env.values()]
    assert len(extra_ports) == 5 == len(set(extra_ports))
    assert plan[2].env == {"MF_PROCESSOR_WEB_PORT": "8181"} and plan[3].env == {"MF_PROCESSOR_WEB_PORT": "8281"}
    assert plan[9].env == {"MF_PAYMENTS_WEB_PORT": "8184"}  # known in advance: a scrape config can name it
