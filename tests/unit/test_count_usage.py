"""The counting use case and its failure policy, with in-memory ports: no Kafka, Redis or Postgres.

What must hold (docs/exactly-once.md): every record is counted once or dead-lettered with its reason; a
poison record never blocks the records after it; a dependency away is retried, never dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from redis.exceptions import ConnectionError as RedisConnectionError

from meterflow.adapters.failures import categorised
from meterflow.application.count_usage import BatchReport, CountUsage
from meterflow.application.failure_policy import FailurePolicy
from meterflow.application.progress import Progress
from meterflow.clock import SteppedClock
from meterflow.domain.counting import CountableEvent
from meterflow.domain.errors import Unavailable
from meterflow.domain.event_record import Position
from meterflow.domain.events import AcceptancePolicy, encode_json
from meterflow.domain.late_events import FinalizedPeriod
from meterflow.domain.modes import Mode
from meterflow.domain.records import DeadLetter, DeadLetterCategory, Record
from meterflow.domain.rollups import Aggregation, MetricRule
from tests.fakes.processing import (
    Failure,
    MemoryCatalog,
    MemoryDeadLetters,
    MemoryEventRecord,
    MemoryLateEvents,
    MemoryUsageStore,
)

NOW = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
TOPICS = {"events.test": Mode.TEST, "events.live": Mode.LIVE}
RULES = [MetricRule("met_count", "tokens", Aggregation.COUNT, None),
         MetricRule("met_sum", "tokens", Aggregation.SUM, "n")]


def body(key: str, n: object = "1", customer: str = "cus_1") -> dict[str, object]:
    return {"event_name": "tokens", "customer_id": customer, "idempotency_key": key, "properties": {"n": n}}


def records(*bodies: dict[str, object] | bytes, topic: str = "events.test") -> list[Record]:
    return [Record(topic, 0, offset, int(NOW.timestamp() * 1000), None,
                   b if isinstance(b, bytes) else encode_json(b)) for offset, b in enumerate(bodies)]


def poisoned_by(key: str, error: Exception) -> Failure:
    """A port failure caused by one record: any call that includes the event with `key` raises."""
    def fail_when(events: Sequence[object]) -> Exception | None:
        hit = any(isinstance(e, CountableEvent) and e.idempotency_key == key for e in events)
        return error if hit else None
    return fail_when


@dataclass
class Pipeline:
    usage: MemoryUsageStore = field(default_factory=MemoryUsageStore)
    catalog: MemoryCatalog = field(default_factory=lambda: MemoryCatalog(
        {Mode.TEST: {"cus_1", "cus_2"}, Mode.LIVE: {"cus_1"}}, {Mode.TEST: RULES, Mode.LIVE: RULES}))
    late: MemoryLateEvents = field(default_factory=MemoryLateEvents)
    sink: MemoryDeadLetters = field(default_factory=MemoryDeadLetters)
    record: MemoryEventRecord = field(default_factory=MemoryEventRecord)
    clock: SteppedClock = field(default_factory=lambda: SteppedClock(NOW))
    slept: list[float] = field(default_factory=list)
    stalled_while_retrying: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.progress = Progress(self.clock, timedelta(seconds=1))
        handler = CountUsage(self.catalog, self.usage, self.late, self.sink, self.clock, TOPICS,
                             AcceptancePolicy(timedelta(days=7), timedelta(minutes=5)), self.record)
        self.policy = FailurePolicy(handler, self.sink, self.progress, categorised, sleep=self._sleep)
        self.handler = handler

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))
        self.stalled_while_retrying.append(self.progress.stalled)

    def totals(self, mode: Mode = Mode.TEST) -> tuple[int, Decimal]:
        """(events counted by the count metric, Σ n by the sum metric), from the store's rollups."""
        days = [(key, hours) for key, hours in self.usage.rollups.items() if key.mode is mode]
        count = sum(r.events for key, hours in days if key.metric_id == "met_count" for r in hours.values())
        return count, sum((r.total for key, hours in days if key.metric_id == "met_sum" for r in hours.values()),
                          Decimal(0))

    def letters(self) -> list[tuple[int, DeadLetterCategory, str]]:
        return [(letter.record.offset, letter.category, letter.reason) for letter in self.sink.letters]


async def test_each_event_counts_once_and_bad_records_are_dead_lettered_with_their_reason() -> None:
    pipeline = Pipeline()
    report = await pipeline.policy.settle(records(
        body("a", "2.5"), body("a", "100"), b"\xff not json", {"customer_id": "cus_1"},
        body("b", customer="cus_nobody"), body("c", Decimal("1e22")), body("d", "-5"), body("e", "oops")))
    assert pipeline.totals() == (3, Decimal("-2.5"))
    assert [e.idempotency_key for e in report.outcome.counted] == ["a", "d", "e"]
    assert [e.idempotency_key for e in report.outcome.duplicates] == ["a"]
    letters = sorted(pipeline.letters())
    assert [(offset, category) for offset, category, _ in letters] == [
        (2, DeadLetterCategory.NOT_JSON), (3, DeadLetterCategory.INVALID_EVENT),
        (4, DeadLetterCategory.UNKNOWN_CUSTOMER), (5, DeadLetterCategory.INVALID_EVENT)]
    assert letters[3][2].startswith("properties.n: must be greater than -1e18")
    assert report.dead_letters == pipeline.sink.letters


async def test_a_record_that_makes_a_port_fail_is_isolated_and_the_rest_count_once() -> None:
    pipeline = Pipeline()
    pipeline.usage.fail_when = poisoned_by("poison", ValueError("surrogates not allowed"))
    batch = [body(f"k{i}", str(i)) for i in range(4)] + [body("poison")] + [body(f"k{i}", str(i)) for i in range(4, 9)]
    report = await pipeline.policy.settle(records(*batch, body("k0", "1000")))
    assert pipeline.totals() == (9, Decimal(36))
    assert pipeline.letters() == [(4, DeadLetterCategory.PROCESSING_FAILED, "ValueError: surrogates not allowed")]
    assert len(report.outcome.counted) == 9 and [e.idempotency_key for e in report.outcome.duplicates] == ["k0"]
    assert pipeline.slept == []


async def test_a_record_the_catalog_cannot_look_up_is_isolated() -> None:
    pipeline = Pipeline()
    pipeline.catalog.fail_when = lambda ids: ValueError("cannot look up") if "cus_poison" in ids else None
    await pipeline.policy.settle(records(body("a"), body("b", customer="cus_poison"), body("c"), body("d")))
    assert pipeline.totals() == (3, Decimal(3))
    assert [(o, c) for o, c, _ in pipeline.letters()] == [(1, DeadLetterCategory.PROCESSING_FAILED)]


async def test_a_dependency_away_is_retried_with_backoff_and_nothing_is_dead_lettered_or_counted_twice() -> None:
    pipeline = Pipeline()
    failures = iter([RedisConnectionError("refused"), Unavailable("postgres down"), RedisConnectionError("again")])
    pipeline.usage.fail_when = lambda events: next(failures, None)
    await pipeline.policy.settle(records(*(body(f"k{i}", "2") for i in range(10)), body("k3", "50")))
    assert pipeline.totals() == (10, Decimal(20))
    assert pipeline.sink.letters == [] and pipeline.usage.applied == 1
    assert pipeline.slept == [0.1, 0.2, 0.4]
    assert pipeline.progress.status()["retrying"] is None and not pipeline.progress.stalled


async def test_a_processor_retrying_longer_than_the_threshold_shows_as_stalled() -> None:
    pipeline = Pipeline()
    failures = iter([Unavailable("redis away")] * 6)
    pipeline.usage.fail_when = lambda events: next(failures, None)
    await pipeline.policy.settle(records(body("a")))
    assert pipeline.slept == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2]
    assert pipeline.stalled_while_retrying == [False, False, False, True, True, True]
    assert pipeline.progress.oldest_unprocessed_age_s() == 0.0 and pipeline.totals() == (1, Decimal(1))


async def test_a_dependency_failing_while_a_poison_record_is_isolated_still_counts_everything_once() -> None:
    pipeline = Pipeline()
    poison, calls = poisoned_by("poison", ValueError("bad")), iter(range(100))

    def blip_on_the_fourth_call(events: Sequence[object]) -> Exception | None:
        return Unavailable("blip") if next(calls) == 3 else poison(events)

    pipeline.usage.fail_when = blip_on_the_fourth_call
    await pipeline.policy.settle(records(*(body(f"k{i}") for i in range(6)), body("poison"), body("k7")))
    assert pipeline.totals() == (7, Decimal(7))
    assert {(o, c) for o, c, _ in pipeline.letters()} == {(6, DeadLetterCategory.PROCESSING_FAILED)}
    assert pipeline.slept == [0.1]


async def test_dead_letters_that_cannot_be_sent_yet_are_retried_before_the_batch_is_settled() -> None:
    pipeline = Pipeline()
    failures = iter([Unavailable("broker away")])
    pipeline.sink.fail_when = lambda letters: next(failures, None)
    await pipeline.policy.settle(records(body("a"), b"not json"))
    assert pipeline.letters()[0][:2] == (1, DeadLetterCategory.NOT_JSON) and len(pipeline.letters()) == 1
    assert pipeline.totals() == (1, Decimal(1)) and pipeline.slept == [0.1]


async def test_the_same_key_counts_once_per_mode_and_an_unknown_topic_is_dead_lettered() -> None:
    pipeline = Pipeline()
    await pipeline.policy.settle([*records(body("a")), *records(body("a"), topic="events.live"),
                                  *records(body("a"), topic="elsewhere")])
    assert pipeline.totals(Mode.TEST) == pipeline.totals(Mode.LIVE) == (1, Decimal(1))
    assert [c for _, c, _ in pipeline.letters()] == [DeadLetterCategory.UNKNOWN_TOPIC]


async def test_late_events_are_recorded_once_and_a_duplicate_is_never_late() -> None:
    pipeline = Pipeline()
    pipeline.late.periods = [FinalizedPeriod("cus_1", "inv_1", NOW - timedelta(days=1), NOW + timedelta(hours=1))]
    first = await pipeline.policy.settle(records(body("a"), body("b", customer="cus_2")))
    again = await pipeline.policy.settle(records(body("a")))
    assert [e.idempotency_key for e in first.late] == ["a"] and again.late == []
    assert list(pipeline.late.recorded) == [(Mode.TEST, "a", "inv_1")]


async def test_a_letter_too_large_for_the_dead_letter_topic_is_sent_without_its_value() -> None:
    pipeline = Pipeline()
    pipeline.usage.fail_when = poisoned_by("poison", ValueError("bad"))
    pipeline.sink.fail_when = lambda letters: ValueError("message too large") if any(
        isinstance(letter, DeadLetter) and letter.record.value for letter in letters) else None
    await pipeline.policy.settle(records(body("a"), body("poison"), body("b")))
    [letter] = pipeline.sink.letters
    assert (letter.record.offset, letter.record.value, letter.category) == (
        1, b"", DeadLetterCategory.PROCESSING_FAILED)
    assert letter.reason == "ValueError: bad (value left out: the letter could not be sent with it)"
    assert pipeline.totals() == (2, Decimal(2))


async def test_a_dead_letter_topic_refusing_every_letter_stalls_the_batch_instead_of_skipping_it() -> None:
    pipeline = Pipeline()
    pipeline.usage.fail_when = poisoned_by("poison", ValueError("bad"))
    refusals = iter([ValueError("refused"), ValueError("refused")])
    pipeline.sink.fail_when = lambda letters: next(refusals, None)
    await pipeline.policy.settle(records(body("a"), body("poison")))
    assert pipeline.slept == [0.1] and pipeline.totals() == (1, Decimal(1))
    assert [(o, c) for o, c, _ in pipeline.letters()] == [(1, DeadLetterCategory.PROCESSING_FAILED)]


async def test_a_batch_of_nothing_but_bad_records_dead_letters_each_with_its_own_reason() -> None:
    pipeline = Pipeline()
    await pipeline.policy.settle(records(b"not json", body("a", customer="cus_nobody")))
    assert [c for _, c, _ in pipeline.letters()] == [DeadLetterCategory.NOT_JSON, DeadLetterCategory.UNKNOWN_CUSTOMER]
    assert await pipeline.policy.settle([]) == BatchReport()


async def test_a_batch_replayed_after_a_crash_changes_nothing() -> None:
    """The processor died after the transaction, before its offsets were committed: the batch comes again."""
    pipeline = Pipeline()
    batch = records(*(body(f"k{i}", str(i)) for i in range(20)), b"not json")
    first = await pipeline.policy.settle(batch)
    state = (pipeline.totals(), dict(pipeline.usage.rollups))
    again = await pipeline.policy.settle(batch)
    assert (pipeline.totals(), pipeline.usage.rollups) == state
    assert len(first.outcome.counted) == len(again.outcome.recounted) == 20 and again.outcome.counted == []


def on_record(pipeline: Pipeline) -> dict[str, object]:
    return {e.idempotency_key: e.properties.get("n") for e in pipeline.record.rows.values()}


async def test_the_events_on_record_are_exactly_the_counted_events_with_the_bodies_counted() -> None:
    pipeline = Pipeline()
    await pipeline.policy.settle(records(body("a", "1"), body("a", "100"), b"not json",
                                         body("b", customer="cus_nobody"), body("c", "3")))
    assert on_record(pipeline) == {"a": "1", "c": "3"}
    [a] = [e for e in pipeline.record.rows.values() if e.idempotency_key == "a"]
    assert (a.position.topic, a.position.partition, a.position.offset) == ("events.test", 0, 0)


async def test_a_crash_between_the_count_and_the_record_is_repaired_by_the_replay_with_the_counted_body() -> None:
    pipeline = Pipeline()
    failures = iter([Unavailable("postgres away")])
    pipeline.record.fail_when = lambda events: next(failures, None)
    batch = records(body("a", "1"), body("b", "2"), body("a", "100"))
    await pipeline.policy.settle(batch)  # the count is durable, the record failed: the batch is retried
    await pipeline.policy.settle(batch)  # and the broker may deliver it once more after a kill -9
    assert on_record(pipeline) == {"a": "1", "b": "2"}
    assert pipeline.totals() == (2, Decimal(3)) and pipeline.slept == [0.1]


async def test_a_later_duplicate_of_a_counted_key_never_reaches_the_record() -> None:
    pipeline = Pipeline()
    await pipeline.policy.settle(records(body("a", "1")))
    report = await pipeline.policy.settle(records(body("x", "5"), body("a", "100")))
    assert on_record(pipeline) == {"a": "1", "x": "5"}
    assert [e.idempotency_key for e in report.outcome.duplicates] == ["a"] and report.outcome.recounted == []


async def test_a_spooled_event_produced_again_is_recounted_not_a_duplicate_of_itself() -> None:
    """A gateway's spool produces an event again after a broker lost it: a new offset, the same delivery
    id. The processor must see the record it already counted (on record again, not counted twice), while
    another record of the key (another delivery id, or none) stays a duplicate."""
    pipeline = Pipeline()
    first = Record("events.test", 0, 7, int(NOW.timestamp() * 1000), None, encode_json(body("a", "3")),
                   delivery_id="5f3a.41")
    await pipeline.policy.settle([first])
    again = Record("events.test", 0, 0, first.timestamp_ms, None, first.value, delivery_id="5f3a.41")
    other = Record("events.test", 0, 1, first.timestamp_ms, None, encode_json(body("a", "9")), delivery_id="5f3a.99")
    report = await pipeline.policy.settle([again, other])
    assert pipeline.totals() == (1, Decimal(3))
    assert [e.idempotency_key for e in report.outcome.recounted] == ["a"]
    assert [e.idempotency_key for e in report.outcome.duplicates] == ["a"]
    assert [e.position.offset for e in pipeline.record.rows.values()] == [7]  # the first write of it stays


async def test_a_batch_prepared_ahead_is_counted_as_read_then_and_any_other_list_is_read_afresh() -> None:
    """The processor decodes and resolves the next batch while the previous one counts: the call for that
    very list takes it up (its catalog read a moment earlier), a retry or a half reads again."""
    pipeline = Pipeline()
    batch = records(body("a", customer="cus_2"), body("b"))
    await pipeline.handler.prepare(batch)
    pipeline.catalog.customers[Mode.TEST].discard("cus_2")  # deleted after the batch was prepared
    report = await pipeline.policy.settle(batch)
    assert [e.idempotency_key for e in report.outcome.counted] == ["a", "b"] and pipeline.letters() == []
    again = await pipeline.policy.settle(records(body("c", customer="cus_2")))
    assert again.outcome.counted == [] and pipeline.letters()[0][1] is DeadLetterCategory.UNKNOWN_CUSTOMER


async def test_a_counted_event_carries_where_its_record_was_read_spooled_or_not() -> None:
    """The marks keep, per partition, the highest offset they name, and the hot origins are swept only once
    the group committed past it: every counted event must carry its record's position, a spooled record's
    too (its origin is its delivery id, not its position)."""
    pipeline = Pipeline()
    spooled = Record("events.test", 2, 7, int(NOW.timestamp() * 1000), None, encode_json(body("s")),
                     delivery_id="5f3a.41")
    report = await pipeline.policy.settle([*records(body("a")), spooled])
    assert {e.idempotency_key: e.position for e in report.outcome.counted} == {
        "a": Position("events.test", 0, 0), "s": Position("events.test", 2, 7)}
    assert [e.origin for e in report.outcome.counted if e.idempotency_key == "s"] == ["5f3a.41"]


async def test_a_dead_letter_of_a_decoded_event_names_its_key_so_a_retry_is_answered_as_a_duplicate() -> None:
    pipeline = Pipeline()
    await pipeline.policy.settle(records(b"not json", body("b", customer="cus_nobody"), body("c")))
    assert [(letter.category, letter.idempotency_key) for letter in pipeline.sink.letters] == [
        (DeadLetterCategory.NOT_JSON, None), (DeadLetterCategory.UNKNOWN_CUSTOMER, "b")]
