"""Token prices: the cost of a call given as token counts, from the model registry.

A record (``POST /router/record``, ``/router/records``, an OpenTelemetry span) may carry
``input_tokens`` and ``output_tokens`` instead of a ``cost``; the cost is then

    input_tokens * input price / 1e6 + output_tokens * output price / 1e6

with the model's ``input_usd_per_million_tokens`` and ``output_usd_per_million_tokens``.
A given cost always wins over the tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.errors import AureaError
from aurea.storage.models import RegisteredModel

TOKEN_FIELDS = ("input_tokens", "output_tokens")
# The highest cost a record may carry, as schemas.MAX_RECORDED_VALUE (the aggregates' sums
# must not overflow): a computed cost above it is refused like a given one.
MAX_COST = 1e9


class UnpricedRecord(AureaError):
    """A record without a cost whose tokens the registry cannot price."""

    status_code = HTTPStatus.UNPROCESSABLE_ENTITY


@dataclass(frozen=True)
class TokenPrices:
    input_usd_per_million_tokens: float | None
    output_usd_per_million_tokens: float | None


def cost_from_tokens(
    prices: TokenPrices | None, input_tokens: int | None, output_tokens: int | None
) -> float | None:
    """The USD cost of the tokens at ``prices``; None if a non-zero count has no price.

    A count that is absent or zero needs no price (an embedding has no output tokens).
    """
    cost = 0.0
    for count, price in (
        (input_tokens, prices.input_usd_per_million_tokens if prices else None),
        (output_tokens, prices.output_usd_per_million_tokens if prices else None),
    ):
        if not count:
            continue
        if price is None:
            return None
        cost += count * price / 1e6
    return cost


def token_prices(session: Session, names: Iterable[str]) -> dict[str, TokenPrices]:
    """The prices of the registered models among ``names`` (unregistered ones are absent)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(
            RegisteredModel.name,
            RegisteredModel.input_usd_per_million_tokens,
            RegisteredModel.output_usd_per_million_tokens,
        ).where(RegisteredModel.name.in_(wanted))
    )
    return {name: TokenPrices(i, o) for name, i, o in rows}


def unpriced_reason(model: str, prices: TokenPrices | None, cost: float | None) -> str | None:
    """Why a record of ``model`` cannot be priced (None: it can, at ``cost``)."""
    if cost is None:
        if prices is None:
            return (
                f"No cost given, and model {model!r} is not registered, so it has no token "
                "prices: give cost, or register the model with its prices."
            )
        return (
            f"No cost given, and model {model!r} has no price for these tokens: give cost, "
            f"or set its prices (PATCH /router/models/{model} or "
            "`flask aurea models set-price`)."
        )
    if cost > MAX_COST:
        return f"The cost computed from the tokens ({cost:.6g} USD) is more than 1e9."
    return None


def priced(item: dict, prices: dict[str, TokenPrices]) -> tuple[dict, str | None]:
    """``item`` (as RecordRequestSchema loads it) with its cost and no token counts, and why
    it cannot be priced (None: it can). ``prices``: from :func:`token_prices`."""
    if "input_tokens" not in item and "output_tokens" not in item:
        return item, None  # the common case, kept as it is (batches of 1,000)
    record = {k: v for k, v in item.items() if k not in TOKEN_FIELDS}
    if record.get("cost") is None:
        model_prices = prices.get(item["model"])
        cost = cost_from_tokens(model_prices, item.get("input_tokens"), item.get("output_tokens"))
        reason = unpriced_reason(item["model"], model_prices, cost)
        if reason is not None:
            return record, reason
        record["cost"] = cost
    return record, None


def with_costs(session: Session, items: list[dict], batch: bool = True) -> list[dict]:
    """Records as RecordRequestSchema loads them, each with its cost and no token counts.

    Items without a cost are priced from their tokens; raises UnpricedRecord (422, the
    message under ``cost``, per item for a batch) for any that cannot be.
    """
    missing = [item["model"] for item in items if item.get("cost") is None]
    prices = token_prices(session, missing) if missing else {}
    records, errors = [], {}
    for index, item in enumerate(items):
        record, reason = priced(item, prices)
        if reason is not None:
            errors[str(index)] = {"cost": [reason]}
        records.append(record)
    if errors:
        details = {"records": errors} if batch else errors["0"]
        raise UnpricedRecord("The cost of some records cannot be computed.", {"json": details})
    return records
