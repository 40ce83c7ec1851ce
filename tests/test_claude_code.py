"""Claude Code itself (npm @anthropic-ai/claude-code, installed in tests/js), run the way its users
run it against Bedrock, pointed at Outcrop. Everything stays on loopback: telemetry, error
reporting and updates are off, and any proxied traffic would go to a dead port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCESS_KEY, REGION, SECRET_KEY, Server

CLAUDE = Path(__file__).parent / "js" / "node_modules" / ".bin" / "claude"
PROFILE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SMALL = "anthropic.claude-3-haiku-20240307-v1:0"
RUN_SECONDS = 240  # one `claude -p` turn; typically ~10-15 s on 2 cores
# Runs whose model Claude Code cannot tell (an ARN): thinking off, but two answers of up to 1,500
# tokens each on one thread took past 240 s under full-suite load (19-67 s alone).
SLOW_RUN_SECONDS = 480

pytestmark = pytest.mark.skipif(
    not CLAUDE.exists(), reason="Claude Code is installed by scripts/install.sh --test (npm ci in tests/js)"
)


def claude(
    server: Server,
    tmp_path: Path,
    prompt: str,
    model: str,
    seconds: float = RUN_SECONDS,
    *,
    rambling_ok: bool = False,
    **env: str,
) -> tuple[dict[str, Any], float]:
    """Run one `claude -p … --output-format json` turn; returns its JSON result and wall time.
    ``rambling_ok``: a run the 135M model ends by writing past Claude Code's output cap ("Claude's
    response exceeded the 1500 output token maximum", exit 1) still counts, for tests about what
    reaches the server rather than the answer."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "ANTHROPIC_BEDROCK_BASE_URL": server.url,
        "AWS_REGION": REGION,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": SMALL,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        # Claude Code asks for up to 32,000 tokens with a 31,999-token thinking budget; the 135M
        # default model sometimes rambles that far (measured: 3,900 tokens, 4 minutes on one
        # thread). docs/anthropic.md tells users to cap it the same way: output 1,500, budget 1,024.
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "1500",
        "MAX_THINKING_TOKENS": "1024",
        **env,
    }
    started = time.perf_counter()
    done = subprocess.run(
        [str(CLAUDE), "-p", prompt, "--output-format", "json"],
        cwd=work,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=seconds,
    )
    elapsed = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    rambled = rambling_ok and result.get("api_error") == "max_output_tokens"
    assert done.returncode == 0 or rambled, (
        f"claude exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    )
    print(f"claude -p with {model}: {elapsed:.1f} s, result {result.get('result')!r}")
    return result, elapsed


def check_answer(result: dict[str, Any], model: str) -> None:
    assert result["is_error"] is False and result["subtype"] == "success"
    assert result["api_error_status"] is None
    assert isinstance(result["result"], str) and result["result"].strip()
    assert not result["result"].startswith("API Error")
    usage = result["modelUsage"][model]
    # Billed as sent (Claude Code's ~22K-token request), though the small model read a fitted prompt.
    assert (
        usage["inputTokens"] + usage.get("cacheReadInputTokens", 0) + usage.get("cacheCreationInputTokens", 0)
        > 8192
    )
    assert usage["outputTokens"] > 0


def answered(result: dict[str, Any], model: str) -> None:
    """The conversation went through ``model`` and the model answered (the answer's length is the
    135M model's business: a run it ended by rambling past the cap counts)."""
    assert result["modelUsage"][model]["outputTokens"] > 0
    assert result["is_error"] is False or result.get("api_error") == "max_output_tokens", result
    assert result.get("api_error_status") is None  # no HTTP error ended it


def access_lines(server: Server, since: int) -> list[str]:
    return [line for line in server.log().splitlines()[since:] if "outcrop.access" in line]


def test_claude_code_with_skip_auth_and_a_profile_id(server: Server, tmp_path: Path) -> None:
    mark = len(server.log().splitlines())
    # A Sonnet 4.5 profile: Claude Code asks for thinking (1,024 tokens) and an answer (up to 1,500),
    # which the 135M model may use whole: up to ~2,500 tokens on one thread.
    result, _ = claude(
        server, tmp_path, "What is the capital of France?", PROFILE, SLOW_RUN_SECONDS,
        CLAUDE_CODE_SKIP_BEDROCK_AUTH="1",
    )  # fmt: skip
    check_answer(result, PROFILE)
    lines = access_lines(server, mark)
    assert any("GET /inference-profiles ListInferenceProfiles -> 200" in line for line in lines)
    streams = [line for line in lines if "InvokeModelWithResponseStream" in line]
    assert streams and all("-> 200" in line for line in streams), lines


def test_claude_code_with_sigv4_and_a_profile_arn(auth_server: Server, tmp_path: Path) -> None:
    """Signed requests, verified: the model-availability probes, then the conversation. A Claude 3
    Haiku profile: no thinking, so the 135M model's rambling thoughts (up to the 1,024-token budget
    on one thread, 1-2 minutes a request) cannot push the run past its time limit."""
    arn = f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/us.{SMALL}"
    mark = len(auth_server.log().splitlines())
    result, _ = claude(
        auth_server,
        tmp_path,
        "Say hello.",
        arn,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
    )
    check_answer(result, arn)
    lines = access_lines(auth_server, mark)
    assert not [line for line in lines if re.search(r"-> 40[13]", line)], "every signature verified"
    assert any(" InvokeModel -> 200" in line for line in lines), "probes with max_tokens 1 answered"
    assert any("InvokeModelWithResponseStream -> 200" in line for line in lines)


def test_claude_code_with_a_base_model_id(server: Server, tmp_path: Path) -> None:
    """A model without thinking: Claude Code then asks for max_tokens 4096 and sends no thinking."""
    result, _ = claude(server, tmp_path, "Name a colour.", SMALL, CLAUDE_CODE_SKIP_BEDROCK_AUTH="1")
    check_answer(result, SMALL)


PROFILES_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": "arn:aws:bedrock:*:*:application-inference-profile/*",
        },
        {
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": "arn:aws:bedrock:*::foundation-model/*",
            "Condition": {
                "ArnLike": {
                    "bedrock:InferenceProfileArn": "arn:aws:bedrock:*:*:application-inference-profile/*"
                }
            },
        },
        {
            "Effect": "Allow",
            "Action": ["bedrock:ListInferenceProfiles", "bedrock:GetInferenceProfile"],
            "Resource": "*",
        },
    ],
}


def test_claude_code_under_a_profiles_only_policy(tmp_path: Path) -> None:
    """The setup teams run on AWS, and its best-known pitfall: a developer's policy allows only
    application inference profiles, and ANTHROPIC_MODEL is the team's profile.

    1. Only ANTHROPIC_MODEL set: the conversation goes through the profile, but the requests for
       the small/fast model (its availability probes at start, and its background request after
       the answer when Claude Code makes one) go to Claude Code's default Haiku ids, which the
       policy does not allow: 403 AccessDeniedException in IAM's words, as AWS refuses them.
    2. The small/fast model (ANTHROPIC_DEFAULT_HAIKU_MODEL; ANTHROPIC_SMALL_FAST_MODEL for older
       versions) and the model picker's defaults set to the profile: every request succeeds."""
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError

    from conftest import make_client, start_server, stop_server

    (tmp_path / "policy.json").write_text(json.dumps(PROFILES_ONLY))
    (tmp_path / "outcrop.toml").write_text(
        '[[auth.credentials]]\naccess_key_id = "AKIAADMIN00000000001"\nsecret_access_key = "admin-secret"\n\n'
        '[[identities]]\nname = "dev"\naccess_keys = [{ access_key_id = "AKIADEV0000000000001", '
        'secret_access_key = "dev-secret" }]\npolicy_files = ["policy.json"]\n'
    )
    # Two engine threads: this test's server has the machine to itself while Claude Code waits on it
    # (three answers of up to 1,500 tokens: minutes on one thread).
    srv = start_server(
        tmp_path, "governed", env={"OUTCROP_THREADS": "2"}, args=["--config", str(tmp_path / "outcrop.toml")]
    )
    dev = {"AWS_ACCESS_KEY_ID": "AKIADEV0000000000001", "AWS_SECRET_ACCESS_KEY": "dev-secret"}
    try:
        admin = make_client("bedrock", srv.url, key="AKIAADMIN00000000001", secret="admin-secret")
        arn = admin.create_inference_profile(
            inferenceProfileName="claude-code-team",
            modelSource={"copyFrom": f"arn:aws:bedrock:{REGION}::foundation-model/{SMALL}"},
        )["inferenceProfileArn"]
        mark = len(srv.log().splitlines())
        result, _ = claude(
            srv, tmp_path, "Name a colour.", arn, SLOW_RUN_SECONDS, rambling_ok=True, **dev,
            ANTHROPIC_SMALL_FAST_MODEL="",  # not set, as in the pitfall
            # No thinking (an ARN hides the model, so Claude Code would ask it to think).
            MAX_THINKING_TOKENS="0",
        )  # fmt: skip
        answered(result, arn)
        lines = access_lines(srv, mark)
        streams = [line for line in lines if "InvokeModelWithResponseStream" in line]
        assert streams and all(
            "application-inference-profile" in line and "-> 200" in line for line in streams
        )
        haiku = [line for line in lines if "haiku" in line]
        assert haiku and all(" InvokeModel -> 403" in line for line in haiku), lines
        small = re.search(r"/model/([^/ ]*haiku[^/ ]*)/invoke", haiku[0])
        assert small is not None
        # What such a request gets, in IAM's words:
        runtime = make_client(
            "bedrock-runtime", srv.url, key=dev["AWS_ACCESS_KEY_ID"], secret=dev["AWS_SECRET_ACCESS_KEY"]
        )
        with pytest.raises(ClientError) as refused:
            runtime.invoke_model(
                modelId=small[1],
                body=json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1,
                                 "messages": [{"role": "user", "content": "count"}]}),
            )  # fmt: skip
        assert refused.value.response["Error"]["Message"] == (
            "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: bedrock:InvokeModel "
            f"on resource: arn:aws:bedrock:{REGION}:123456789012:inference-profile/{small[1]} because no "
            "identity-based policy allows the bedrock:InvokeModel action"
        )

        mark = len(srv.log().splitlines())
        result, _ = claude(
            srv, tmp_path, "Name a colour.", arn, SLOW_RUN_SECONDS, rambling_ok=True, **dev,
            ANTHROPIC_DEFAULT_HAIKU_MODEL=arn, ANTHROPIC_SMALL_FAST_MODEL=arn,
            ANTHROPIC_DEFAULT_SONNET_MODEL=arn, ANTHROPIC_DEFAULT_OPUS_MODEL=arn,
            MAX_THINKING_TOKENS="0",
        )  # fmt: skip
        answered(result, arn)
        lines = [line for line in access_lines(srv, mark) if "/model/" in line]
        assert lines and all("-> 200" in line for line in lines), lines
        # Both runs' conversations were attributed to the team's profile (what profiles are for).
        signed = AWSRequest(method="GET", url=f"{srv.url}/_outcrop/usage")
        SigV4Auth(Credentials("AKIAADMIN00000000001", "admin-secret"), "bedrock", REGION).add_auth(signed)
        request = urllib.request.Request(signed.url, headers=dict(signed.headers.items()))
        with urllib.request.urlopen(request, timeout=5) as response:
            counted = json.load(response)["applicationInferenceProfiles"][arn]
        assert counted["invocations"] >= 2 and counted["outputTokens"] > 0
    finally:
        stop_server(srv)
