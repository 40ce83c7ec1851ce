"""How many quota tokens an output token costs (Bedrock's "burndown rate"): 5 for Anthropic's
Claude 3.7 Sonnet and every later Claude model, 1 for every other model."""

from __future__ import annotations

import re

_FIVEFOLD = re.compile(r"^anthropic\.claude-(3-7-|(sonnet|opus|haiku)-\d)")


def output_weight(model_id: str) -> float:
    return 5.0 if _FIVEFOLD.match(model_id) else 1.0
