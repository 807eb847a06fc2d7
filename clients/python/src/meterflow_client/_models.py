"""The base of every object the API answers with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class APIObject(BaseModel):
    """Read-only; a field the API adds later is kept (in `model_extra`), never an error, so an older
    client keeps working against a newer server. Money and quantities are `Decimal` fields: the API
    writes them as decimal strings, read digit for digit."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Deleted(APIObject):
    """The answer to a DELETE: `{"message": "..."}`."""

    message: str
