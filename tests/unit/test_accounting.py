"""The accounting rules of docs/accounting.md, pure, and the accounting use cases on in-memory ports: the
identity per hour, what in flight and lost mean, the reconciliation window, and that a dead letter or a
loss is tallied once however often it is told."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from meterflow.application.accounting import AccountedDeadLetters, LossCheck, Reconciliation
from meterflow.clock import SteppedClock
from meterflow.domain.accounting import (
    HOUR,
    HourFigures,
    HourTally,
    Receipt,
    Source,
    figures_of,
    losses_found,
    oldest_in_flight_age,
    receipt_of,
    reconciliation_window,
    stalled,
)
from meterflow.domain.counting import BatchOutcome, CountableEvent
from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.records import DeadLetter, DeadLetterCategory, Record
from tests.fakes.accounting import MemoryAccounting
from tests.fakes.processing import MemoryDeadLetters

NOW = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
H10 = datetime(2026, 3, 1, 10, tzinfo=UTC)
H9 = H10 - HOUR
RETENTION = timedelta(days=2)


def row(hour: datetime, acknowledged: int, counted: int, duplicates: int = 0, dead: int = 0, lost: int = 0,
        seen: int = 0) -> HourFigures:
    return HourFigures(hour, acknowledged, counted, duplicates, dead, lost, seen)


def test_direct_records_are_acknowledged_by_their_outcome_so_never_in_flight() -> None:
    tally = HourTally(10, {Source.HTTP: 6, Source.DIRECT: 5}, {Source.HTTP: 1, Source.DIRECT: 2},
                      {Source.DIRECT: 3})
    figures = figures_of(H10, tally)
    assert (figures.acknowledged, figures.counted, figures.duplicates, figures.dead_lettered) == (20, 11, 3, 3)
    assert figures.in_flight == 3  # the 3 HTTP events not yet settled
    assert figures.acknowledged == figures.counted + figures.duplicates + figures.dead_lettered + figures.in_flight


def test_lost_events_leave_in_flight_and_stay_in_the_figures_once_acknowledged() -> None:
    figures = row(H9, 100, 90, lost=10, seen=10)
    assert figures.in_flight == 0 and figures.unacknowledged_loss == 0 and figures.lost == 10


def test_a_gateway_record_is_http_and_any_other_direct_in_the_hour_of_its_timestamp() -> None:
    at = int(datetime(2026, 3, 1, 10, 59, 59, 999_000, tzinfo=UTC).timestamp() * 1000)
    assert receipt_of(Record("t", 0, 1, at, None, b"", from_gateway=True), Mode.LIVE) == Receipt(
        Mode.LIVE, H10, Source.HTTP)
    assert receipt_of(Record("t", 0, 1, at, None, b"", "req_1"), Mode.TEST).source is Source.DIRECT


def test_the_window_defaults_to_the_last_24_hours_and_takes_only_whole_hours() -> None:
    assert reconciliation_window(None, None, NOW, RETENTION) == (H10 + HOUR - 24 * HOUR, H10 + HOUR)
    assert reconciliation_window(H9, None, NOW, RETENTION) == (H9, H10 + HOUR)
    with pytest.raises(FieldError) as half_past:
        reconciliation_window(NOW, None, NOW, RETENTION)
    assert half_past.value.param == "from"
    with pytest.raises(FieldError) as backwards:
        reconciliation_window(H10, H9, NOW, RETENTION)
    assert backwards.value.param == "to"
    with pytest.raises(FieldError, match="at most 48 hours"):
        reconciliation_window(H10 - 49 * HOUR, H10, NOW, RETENTION)


def test_an_hour_stalls_only_once_it_ended_more_than_the_threshold_ago_with_events_in_flight() -> None:
    threshold = timedelta(seconds=60)
    assert not stalled(row(H10, 5, 3), NOW, threshold)  # the current hour
    assert not stalled(row(H9, 5, 3), H10 + timedelta(seconds=59), threshold)
    assert stalled(row(H9, 5, 3), H10 + timedelta(seconds=60), threshold)
    assert not stalled(row(H9, 5, 5), NOW, threshold)


def test_the_gauge_ages_the_oldest_hour_in_flight_from_its_end() -> None:
    assert oldest_in_flight_age([row(H9 - HOUR, 1, 1), row(H9, 4, 3), row(H10, 9, 1)], NOW) == 30 * 60
    assert oldest_in_flight_age([row(H10, 9, 1)], NOW) == 0.0
    assert oldest_in_flight_age([], NOW) == 0.0


def test_a_loss_is_what_is_still_in_flight_never_a_surplus() -> None:
    assert losses_found([row(H9, 10, 4, 1, 1), row(H10, 3, 4), row(H10 + HOUR, 2, 2)]) == {H9: 4}


def _record(offset: int, topic: str = "events.test", from_gateway: bool = False) -> Record:
    return Record(topic, 2, offset, int(NOW.timestamp() * 1000), None, b"x", from_gateway=from_gateway)


async def test_a_dead_letter_sent_again_is_tallied_once_and_after_the_topic_took_it() -> None:
    book, sink = MemoryAccounting(), MemoryDeadLetters()
    letters = AccountedDeadLetters(sink, book, {"events.test": Mode.TEST})
    batch = [DeadLetter(_record(7), "not JSON", DeadLetterCategory.NOT_JSON),
             DeadLetter(_record(8, from_gateway=True), "gone", DeadLetterCategory.UNKNOWN_CUSTOMER),
             DeadLetter(_record(9, topic="elsewhere"), "no mode", DeadLetterCategory.UNKNOWN_TOPIC)]
    await letters.send(batch)
    await letters.send(batch[:1])  # a replay after a kill -9 between the letter and the offset commit
    [tally] = await book.tallies(Mode.TEST, [H10])
    assert tally.dead_lettered == {Source.HTTP: 1, Source.DIRECT: 1}
    assert len(sink.letters) == 4


class RememberedKeys:
    def __init__(self) -> None:
        self.keys: list[tuple[Mode, str]] = []

    async def dead_lettered(self, mode: Mode, idempotency_keys: Sequence[str]) -> None:
        self.keys += [(mode, key) for key in idempotency_keys]


async def test_the_keys_of_dead_lettered_events_are_remembered_once_the_topic_took_them() -> None:
    """A retry of a dead-lettered event is answered as a duplicate: its key is remembered, after the letter
    is durable (never for a letter the topic refused), and only for records that decoded as events."""
    remembered = RememberedKeys()
    letters = AccountedDeadLetters(MemoryDeadLetters(), MemoryAccounting(), {"events.test": Mode.TEST}, remembered)
    await letters.send([DeadLetter(_record(7), "not JSON", DeadLetterCategory.NOT_JSON),
                        DeadLetter(_record(8), "gone", DeadLetterCategory.UNKNOWN_CUSTOMER, "k-8"),
                        DeadLetter(_record(9, topic="elsewhere"), "no mode", DeadLetterCategory.UNKNOWN_TOPIC, "k-9")])
    assert remembered.keys == [(Mode.TEST, "k-8")]
    refused = AccountedDeadLetters(MemoryDeadLetters(fail_when=lambda _: ConnectionError("down")), MemoryAccounting(),
                                   {"events.test": Mode.TEST}, remembered)
    with pytest.raises(ConnectionError):
        await refused.send([DeadLetter(_record(10), "gone", DeadLetterCategory.UNKNOWN_CUSTOMER, "k-10")])
    assert remembered.keys == [(Mode.TEST, "k-8")]


async def test_a_dead_letter_the_topic_refused_is_not_tallied() -> None:
    book = MemoryAccounting()
    letters = AccountedDeadLetters(MemoryDeadLetters(fail_when=lambda _: ConnectionError("down")), book,
                                   {"events.test": Mode.TEST})
    with pytest.raises(ConnectionError):
        await letters.send([DeadLetter(_record(7), "not JSON", DeadLetterCategory.NOT_JSON)])
    assert (await book.tallies(Mode.TEST, [H10]))[0].dead_lettered == {Source.HTTP: 0, Source.DIRECT: 0}


def _event(key: str, origin: str, source: Source = Source.HTTP) -> CountableEvent:
    return CountableEvent(Mode.TEST, key, "cus_1", "tokens", NOW, (), origin, Receipt(Mode.TEST, H10, source))


async def test_reconciliation_rows_hold_the_identity_and_in_flight_closes_when_everything_settles() -> None:
    book, clock = MemoryAccounting(), SteppedClock(NOW)
    books = Reconciliation(book, clock, RETENTION, timedelta(seconds=60))
    await book.add(Mode.TEST, NOW, 3)
    book.apply_outcome(BatchOutcome(counted=[_event("a", "0:1:1"), _event("b", "0:2:1")]))
    [_, open_hour] = await books.hours(Mode.TEST, H9, H10 + HOUR)
    assert (open_hour.acknowledged, open_hour.counted, open_hour.in_flight) == (3, 2, 1)
    book.apply_outcome(BatchOutcome(duplicates=[_event("a", "0:3:1")]))
    book.apply_outcome(BatchOutcome(duplicates=[_event("a", "0:3:1")]))  # the same record, replayed
    [settled] = await books.hours(Mode.TEST, H10, H10 + HOUR)
    assert (settled.duplicates, settled.in_flight) == (1, 0)


async def test_a_loss_check_records_each_hour_in_flight_once_and_ops_acknowledge_it() -> None:
    book, clock = MemoryAccounting(), SteppedClock(NOW)
    books = Reconciliation(book, clock, RETENTION, timedelta(seconds=60))
    await book.add(Mode.LIVE, H9, 50)
    await book.add(Mode.LIVE, NOW, 20)
    book.apply_outcome(BatchOutcome(counted=[CountableEvent(Mode.LIVE, "k", "c", "n", NOW, (), "0:1:1",
                                                            Receipt(Mode.LIVE, H9, Source.HTTP))]))
    found = {report.mode: report for report in await LossCheck(books)()}
    assert found[Mode.LIVE].hours == {H9: 49, H10: 20} and found[Mode.TEST].events == 0
    assert (await LossCheck(books)())[1].events == 0  # nothing left in flight: nothing lost twice
    rows = await books.hours(Mode.LIVE, H9, H10 + HOUR)
    assert [(r.lost, r.in_flight) for r in rows] == [(49, 0), (20, 0)]
    assert (await books.losses(Mode.LIVE)).events == 69
    assert (await books.acknowledge_loss(Mode.LIVE)).events == 69
    assert (await books.losses(Mode.LIVE)).events == 0
    assert [r.lost for r in await books.hours(Mode.LIVE, H9, H10 + HOUR)] == [49, 20]
