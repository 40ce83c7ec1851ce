"""The catalogue's data, read once from the JSON files in ``data/``.

The JSON is transcribed from AWS's documentation (see its ``sources``); these records are its typed
form, so the rest of the package never touches raw dictionaries from disk.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

GLOBAL = "*"  # a route destination meaning "every commercial Region" (global profiles)


@dataclass(frozen=True)
class ModelRecord:
    model_id: str
    name: str
    provider: str
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    streaming: bool
    customizations: tuple[str, ...]
    status: str  # ACTIVE | LEGACY
    regions: frozenset[str]  # in-Region (ON_DEMAND) inference
    provisioned_regions: frozenset[str]
    converse: dict[str, bool] = field(default_factory=dict, compare=False, hash=False)
    context_window: int | None = None
    max_output_tokens: int | None = None


@dataclass(frozen=True)
class ProfileRecord:
    profile_id: str
    name: str
    model_id: str
    routes: dict[str, tuple[str, ...]] = field(compare=False, hash=False)  # source Region -> destinations
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def geography(self) -> str:
        return self.profile_id.split(".", 1)[0]


def _load(name: str) -> dict[str, Any]:
    text = resources.files("outcrop.catalog").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _stamp(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@cache
def load_models() -> tuple[ModelRecord, ...]:
    return tuple(
        ModelRecord(
            model_id=m["modelId"],
            name=m["modelName"],
            provider=m["providerName"],
            input_modalities=tuple(m["inputModalities"]),
            output_modalities=tuple(m["outputModalities"]),
            streaming=bool(m["responseStreamingSupported"]),
            customizations=tuple(m.get("customizationsSupported", ())),
            status=m["status"],
            regions=frozenset(m.get("regions", ())),
            provisioned_regions=frozenset(m.get("provisionedRegions", ())),
            converse=dict(m.get("converse", {})),
            context_window=m.get("contextWindow"),
            max_output_tokens=m.get("maxOutputTokens"),
        )
        for m in _load("models.json")["models"]
    )


@cache
def load_profiles() -> tuple[ProfileRecord, ...]:
    return tuple(
        ProfileRecord(
            profile_id=p["inferenceProfileId"],
            name=p["inferenceProfileName"],
            model_id=p["inferenceProfileId"].split(".", 1)[1],
            routes={src: tuple(dests) for src, dests in p["routes"].items()},
            created_at=_stamp(p.get("createdAt")),
            updated_at=_stamp(p.get("updatedAt")),
        )
        for p in _load("profiles.json")["profiles"]
    )
