"""Parsing a price definition: the `Price` union and the refusals that name the faulty field.

Plan creation answers 400 with `PriceError.param`, a path from the price object (`tiers[1].up_to`), so
pydantic's error locations are translated here, in one place, into that path and a sentence saying what
is allowed.
"""

from collections.abc import Mapping
from typing import Annotated, get_args

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from meterflow.domain.pricing.base import PriceError
from meterflow.domain.pricing.flat import FlatPrice
from meterflow.domain.pricing.overage import OveragePrice
from meterflow.domain.pricing.package import PackagePrice
from meterflow.domain.pricing.tiered import TieredPrice
from meterflow.domain.pricing.tiers import Tier
from meterflow.domain.pricing.volume import VolumePrice
from meterflow.domain.pricing.weighted_tiered import WeightedTieredPrice

_Models = FlatPrice | TieredPrice | VolumePrice | PackagePrice | OveragePrice | WeightedTieredPrice
Price = Annotated[_Models, Field(discriminator="model")]

_ADAPTER: TypeAdapter[_Models] = TypeAdapter(Price)
_MODEL_BY_NAME = {
    name: model for model in get_args(_Models) for name in get_args(model.model_fields["model"].annotation)
}
_SUPPORTED = f"supported models: {', '.join(_MODEL_BY_NAME)}"
_MESSAGES = {
    "missing": "is required",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "tuple_type": "must be a list of tiers",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def parse_price(raw: Mapping[str, object]) -> Price:
    """Validate a price definition; raise PriceError naming the first faulty field."""
    try:
        return _ADAPTER.validate_python(dict(raw))
    except ValidationError as exc:
        raise _refusal(exc.errors()[0]) from exc


def _refusal(error: ErrorDetails) -> PriceError:
    if error["type"] == "union_tag_not_found":
        return PriceError("model", f"is required; {_SUPPORTED}")
    if error["type"] == "union_tag_invalid":
        return PriceError("model", f"unknown model {error['input']['model']!r}; {_SUPPORTED}")
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, PriceError):  # raised by a model validator, already named from the price object
        return cause
    model_name, *path = error["loc"]  # a union error's location starts with the model name
    return PriceError(_param(path), _message(error, str(model_name), path, cause))


def _message(error: ErrorDetails, model_name: str, path: list[int | str], cause: object) -> str:
    if error["type"] == "extra_forbidden":
        owner, fields = (model_name + " price", _MODEL_BY_NAME[model_name].model_fields)
        if len(path) > 1:  # the only nested objects are tiers
            owner, fields = ("tier", Tier.model_fields)
        return f"is not a field of a {owner}; its fields are: {', '.join(fields)}"
    if cause is not None:  # our own validators' ValueError: its text already says what is allowed
        return str(cause)
    return _MESSAGES.get(error["type"], error["msg"])


def _param(path: list[int | str]) -> str:
    """("tiers", 1, "up_to") -> "tiers[1].up_to"."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")
