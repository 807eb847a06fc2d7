"""Mode: every object and event belongs to exactly one of test or live, named by the API key's prefix."""

from enum import StrEnum


class Mode(StrEnum):
    TEST = "test"
    LIVE = "live"
