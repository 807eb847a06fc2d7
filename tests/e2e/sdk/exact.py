"""What the SDK's e2e tests check of every object the API answers: it fits its model exactly."""

from __future__ import annotations

from pydantic import BaseModel

from meterflow_client import APIObject


def assert_exact(obj: object, where: str = "answer") -> None:
    """No field the model does not know (the model would be missing one of the API's), recursively; a
    field the model requires is checked by the model itself."""
    if isinstance(obj, list):
        for index, item in enumerate(obj):
            assert_exact(item, f"{where}[{index}]")
    elif isinstance(obj, BaseModel):
        if isinstance(obj, APIObject):
            assert not obj.model_extra, f"{where}: {type(obj).__name__} lacks fields {sorted(obj.model_extra or {})}"
        for name in type(obj).model_fields:
            assert_exact(getattr(obj, name), f"{where}.{name}")
