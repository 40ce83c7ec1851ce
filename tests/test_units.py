"""Fast checks of pure pieces: stop matching, config precedence, path splitting, validation text."""

from __future__ import annotations

from pathlib import Path

import pytest

from outcrop.config import ConfigError, load_settings
from outcrop.engines.stops import StopMatcher
from outcrop.protocol.errors import ValidationException
from outcrop.protocol.service_model import find_route, service_model, split_path
from outcrop.protocol.validate import validate


def test_stop_matcher_holds_back_partial_matches() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.feed("hello E") == ("hello ", None)
    assert matcher.feed("N") == ("", None)
    assert matcher.feed("D and more") == ("", "END")


def test_stop_matcher_releases_false_alarms() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.feed("a E") == ("a ", None)
    assert matcher.feed("x") == ("Ex", None)
    assert matcher.flush() == ""


def test_split_path_decodes_segments_after_splitting() -> None:
    arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x"
    assert split_path(f"/model/{arn}/converse") == [
        "model",
        "arn:aws:bedrock:us-east-1:1:inference-profile/us.x",
        "converse",
    ]


def test_routes_come_from_both_service_models() -> None:
    runtime = find_route("POST", "/model/a.b-v1%3A0/converse-stream")
    control = find_route("GET", "/inference-profiles")
    assert (
        runtime is not None
        and runtime[0].name == "ConverseStream"
        and runtime[0].service == "bedrock-runtime"
    )
    assert (
        control is not None and control[0].name == "ListInferenceProfiles" and control[0].service == "bedrock"
    )
    assert find_route("DELETE", "/model/a/converse") is None


def test_validation_message_for_nested_list_member() -> None:
    shape = service_model("bedrock-runtime").operation_model("Converse").input_shape
    with pytest.raises(ValidationException) as info:
        validate(
            shape,
            {"modelId": "a.b", "messages": [{"role": "user", "content": [{"text": "x"}]}, {"content": []}]},
        )
    assert info.value.message == (
        "1 validation error detected: Value null at 'messages.2.member.role' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_a_sensitive_members_value_is_never_shown() -> None:
    """AWS leaves a sensitive member's value out of the message (``Value at 'body'``)."""
    shape = service_model("bedrock-runtime").operation_model("InvokeModel").input_shape
    with pytest.raises(ValidationException) as caught:
        validate(shape, {"modelId": "m", "body": b" " * 25_000_001})
    assert caught.value.message == (
        "1 validation error detected: Value at 'body' failed to satisfy constraint: "
        "Member must have length less than or equal to 25000000"
    )


def test_config_file_then_env_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "outcrop.toml"
    config.write_text('port = 9000\nthreads = 3\n[auth]\napi_keys = ["k1"]\n')
    settings = load_settings(config, env={"OUTCROP_THREADS": "1"}, port=9100)
    assert (settings.port, settings.threads, settings.api_keys, settings.open_mode) == (
        9100,
        1,
        ["k1"],
        False,
    )


def test_non_loopback_without_credentials_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"Refusing to listen on 0\.0\.0\.0"):
        load_settings(env={"OUTCROP_HOST": "0.0.0.0"})
    assert load_settings(env={"OUTCROP_HOST": "0.0.0.0", "OUTCROP_API_KEYS": "k"}).open_mode is False


def test_unknown_route_target_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[routes]\n"anthropic.*" = "missing"\n')
    with pytest.raises(ConfigError, match="unknown model 'missing'"):
        load_settings(config, env={})
