"""Collecting on finalize (`MF_AUTO_COLLECT`): every use case that finalizes invoices calls this inside its
unit of work, before it commits, exactly as it records its webhook events. A finalized invoice and its
place in the payment queue are kept together or lost together: the payment worker takes its work from
that queue, never from memory, so a crash can neither forget a charge nor invent one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from meterflow.application.ports.unit_of_work import CollectionQueue
from meterflow.domain.invoices import Invoice, InvoiceStatus


async def queue_collection(queue: CollectionQueue, invoices: Sequence[Invoice], at: datetime,
                           auto_collect: bool) -> None:
    finalized = [i for i in invoices if i.status is InvoiceStatus.FINALIZED and i.total > 0]
    if auto_collect and finalized:
        await queue.queue_finalized(finalized, at)
