"""ListInferenceProfiles (paged) and GetInferenceProfile for the system-defined profiles.

Application inference profiles are not modelled yet: the APPLICATION listing is empty.
"""

from __future__ import annotations

from ...catalog.pagination import page
from ..registry import Call, Reply, operation


@operation("ListInferenceProfiles")
async def list_inference_profiles(call: Call) -> Reply:
    params = call.params
    profiles = call.services.catalog.list_inference_profiles(params.get("typeEquals"))
    items, next_token = page(profiles, params.get("maxResults"), params.get("nextToken"))
    data: dict[str, object] = {"inferenceProfileSummaries": items}
    if next_token:
        data["nextToken"] = next_token
    return Reply(data)


@operation("GetInferenceProfile")
async def get_inference_profile(call: Call) -> Reply:
    return Reply(call.services.catalog.get_inference_profile(call.params["inferenceProfileIdentifier"]))
