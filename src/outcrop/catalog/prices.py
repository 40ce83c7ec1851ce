"""Estimated on-demand prices: what an invocation would have cost on Bedrock, from the price table
in ``data/prices.json`` (USD per 1,000 tokens, with the date it was taken) and the configuration's
``[prices]`` overrides. An estimate, never a bill: models the table lacks have no price."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..invocation.record import InvocationRecord

COST_HEADER = "x-outcrop-estimated-cost-usd"


@dataclass(frozen=True)
class Price:
    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0


def _table() -> dict[str, Price]:
    doc = json.loads(resources.files("outcrop.catalog").joinpath("data/prices.json").read_text())
    return {model: Price(**fields) for model, fields in doc["models"].items()}


class Prices:
    def __init__(self, overrides: dict[str, dict[str, float]] | None = None) -> None:
        self.table = _table()
        for model, fields in (overrides or {}).items():
            self.table[model] = Price(**fields)

    def cost(self, record: InvocationRecord) -> float | None:
        """USD for the invocation's tokens at its foundation model's price (None: no price)."""
        price = self.table.get(record.resolved_model_id or record.model_id)
        if price is None:
            return None
        per_token = (
            record.input_tokens * price.input
            + record.output_tokens * price.output
            + record.cache_read_tokens * price.cache_read
            + record.cache_write_tokens * price.cache_write
        )
        return per_token / 1000


def header_value(cost: float) -> str:
    """Dollars with enough digits for a one-token call on the cheapest model."""
    return f"{cost:.10f}".rstrip("0").rstrip(".") or "0"
