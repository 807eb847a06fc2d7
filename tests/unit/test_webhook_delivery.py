"""The delivery use case on fakes of its ports: a live endpoint's host is resolved again before each
attempt (DNS can change since the endpoint was created); one endpoint's deliveries go out in order;
a delivery the lease would not cover is given back unsent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from meterflow.application.webhook_delivery import WebhookDelivery
from meterflow.clock import SteppedClock
from meterflow.domain.modes import Mode
from meterflow.domain.webhooks import AttemptOutcome, Delivery, DeliveryStatus, DueDelivery

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


@dataclass
class FakeStore:
    due: list[DueDelivery]
    recorded: list[AttemptOutcome] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    async def claim(self, now: datetime, limit: int, lease_until: datetime, token: str) -> list[DueDelivery]:
        claimed, self.due = self.due[:limit], self.due[limit:]
        return claimed

    async def record(self, outcomes: Sequence[AttemptOutcome], at: datetime) -> None:
        self.recorded += outcomes

    async def release(self, delivery_ids: Sequence[str], token: str) -> None:
        self.released += delivery_ids

    async def retry_now(self, mode: Mode, delivery_id: str, now: datetime) -> Delivery | None:
        return None


@dataclass
class FakeSender:
    clock: SteppedClock
    sent: list[str] = field(default_factory=list)
    public_only: list[bool] = field(default_factory=list)
    takes: timedelta = timedelta(0)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   public_only: bool) -> tuple[int | None, str | None]:
        self.sent.append(url)
        self.public_only.append(public_only)
        self.clock.advance(self.takes)
        return 200, None


@dataclass
class FakeResolver:
    answers: dict[str, list[str]]

    async def addresses(self, host: str) -> list[str]:
        return self.answers.get(host, [])


def due(n: int, mode: Mode, url: str, endpoint: str = "whe_1", lease_s: float = 30) -> DueDelivery:
    return DueDelivery(f"whd_{n}", mode, endpoint, url, "whsec_x", f"evt_{n}", {"id": f"evt_{n}"}, 0, "tok",
                       NOW + timedelta(seconds=lease_s))


def delivery(store: FakeStore, sender: FakeSender, resolver: FakeResolver, clock: SteppedClock,
             allow_private: bool = False) -> WebhookDelivery:
    return WebhookDelivery(store, sender, resolver, clock, (30.0,), 10.0, 30.0, allow_private)


async def test_a_live_host_that_now_resolves_to_a_private_address_is_not_called() -> None:
    clock = SteppedClock(NOW)
    store = FakeStore([due(1, Mode.LIVE, "https://moved.example.com/h"), due(2, Mode.LIVE, "https://ok.example.com/h",
                                                                              "whe_2")])
    sender = FakeSender(clock)
    resolver = FakeResolver({"moved.example.com": ["10.0.0.7"], "ok.example.com": ["93.184.216.34"]})
    outcomes = {o.delivery_id: o for o in await delivery(store, sender, resolver, clock).deliver_due()}
    assert sender.sent == ["https://ok.example.com/h"] and sender.public_only == [True]  # pinned at connect too
    refused = outcomes["whd_1"]
    assert refused.attempt.status_code is None and "10.0.0.7" in (refused.attempt.error or "")
    assert refused.status is DeliveryStatus.PENDING and outcomes["whd_2"].status is DeliveryStatus.SUCCEEDED


async def test_test_mode_and_an_allowing_setting_skip_the_address_check() -> None:
    clock = SteppedClock(NOW)
    store = FakeStore([due(1, Mode.TEST, "http://127.0.0.1:9/h"), due(2, Mode.LIVE, "http://localhost/h", "whe_2")])
    sender = FakeSender(clock)
    await delivery(store, sender, FakeResolver({"localhost": ["127.0.0.1"]}), clock, allow_private=True).deliver_due()
    assert sorted(sender.sent) == ["http://127.0.0.1:9/h", "http://localhost/h"]
    assert sender.public_only == [False, False]


async def test_one_endpoint_s_deliveries_go_in_order_and_what_the_lease_cannot_cover_is_given_back() -> None:
    clock = SteppedClock(NOW)
    store = FakeStore([due(n, Mode.TEST, f"http://r/{n}", lease_s=25) for n in range(5)])
    sender = FakeSender(clock, takes=timedelta(seconds=6))
    await delivery(store, sender, FakeResolver({}), clock).deliver_due()
    # 10 s of timeout must fit in the lease before each send: at 0, 6 and 12 s it does, at 18 s no more.
    assert sender.sent == ["http://r/0", "http://r/1", "http://r/2"]
    assert [o.delivery_id for o in store.recorded] == ["whd_0", "whd_1", "whd_2"]
    assert store.released == ["whd_3", "whd_4"]
