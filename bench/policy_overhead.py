"""What identity-based policies and quotas cost per request: the evaluator alone (microseconds per
decision), the quota service alone (microseconds to admit and settle an invocation under three
matching quotas), and a signed CountTokens request by an identity with policies against one by a
key outside any identity (no policy evaluated), on the same server in the same run.

Run: .venv/bin/python bench/policy_overhead.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from _server import outcrop
from botocore.config import Config

from outcrop.policies.document import parse
from outcrop.policies.evaluate import decide

REGION = "us-east-1"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ROOT = ("AKIABENCHROOT0000001", "root-secret")
USER = ("AKIABENCHUSER0000001", "user-secret")
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "NoStreams",
            "Effect": "Deny",
            "Action": "bedrock:InvokeModelWithResponseStream",
            "Resource": "*",
        },
        {
            "Sid": "Profiles",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:CountTokens"],
            "Resource": "arn:aws:bedrock:*:*:application-inference-profile/*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": ["docs", "ml"]}},
        },
        {
            "Sid": "Models",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:CountTokens"],
            "Resource": "arn:aws:bedrock:*::foundation-model/anthropic.*",
        },
    ],
}


def evaluator(n: int) -> float:
    """Microseconds per decision (three statements, the last one allowing)."""
    statements = parse(POLICY)
    resource = f"arn:aws:bedrock:{REGION}::foundation-model/{MODEL}"
    context = {"aws:username": ["bench"], "aws:PrincipalArn": ["arn:aws:iam::123456789012:user/bench"]}
    started = time.perf_counter()
    for _ in range(n):
        decide(statements, "bedrock:CountTokens", resource, context)
    return (time.perf_counter() - started) / n * 1e6


def quota_admission(n: int) -> float:
    """Microseconds to admit and settle one invocation under three matching quotas (requests and
    tokens per minute, tokens per day, per identity)."""
    import asyncio
    import datetime as dt

    from outcrop.auth import Identity
    from outcrop.catalog import Catalog
    from outcrop.config import QuotaRule, Settings
    from outcrop.invocation.hooks import AdmissionRequest
    from outcrop.invocation.record import InvocationRecord
    from outcrop.quotas.service import Quotas

    rules = [
        QuotaRule(models=["anthropic.*"], requests_per_minute=10**9, tokens_per_minute=10**12),
        QuotaRule(models=[MODEL], tokens_per_day=10**15),
        QuotaRule(models=["*"], per_identity=True, requests_per_minute=10**9),
    ]
    quotas = Quotas(Settings(quotas=rules))
    ref = Catalog(REGION, "123456789012").resolve(MODEL)
    who = Identity("sigv4", "k", None)

    async def run() -> float:
        started = time.perf_counter()
        for i in range(n):
            await quotas(AdmissionRequest(str(i), "api", who, "Converse", ref, "m", 500, 1000))
            record = InvocationRecord(str(i), "Converse", who, "api", MODEL, dt.datetime.now(dt.UTC),
                                      input_tokens=500, output_tokens=200)  # fmt: skip
            await quotas.settle(record)
        return (time.perf_counter() - started) / n * 1e6

    return asyncio.run(run())


def client(url: str, key: tuple[str, str]) -> Any:
    return boto3.client("bedrock-runtime", endpoint_url=url, region_name=REGION, aws_access_key_id=key[0],
                        aws_secret_access_key=key[1], config=Config(retries={"max_attempts": 1}))  # fmt: skip


def timed(runtime: Any, n: int) -> list[float]:
    request = {"converse": {"messages": [{"role": "user", "content": [{"text": "How many tokens?"}]}]}}
    out = []
    for _ in range(n):
        started = time.perf_counter()
        runtime.count_tokens(modelId=MODEL, input=request)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    print(f"evaluator: {evaluator(100_000):.2f} µs per decision (3 statements, one with a condition)")
    print(f"quotas: {quota_admission(50_000):.2f} µs to admit and settle an invocation (3 matching quotas)")
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "outcrop.toml"
        config.write_text(
            f'[[auth.credentials]]\naccess_key_id = "{ROOT[0]}"\nsecret_access_key = "{ROOT[1]}"\n\n'
            f'[[identities]]\nname = "bench"\naccess_keys = [{{ access_key_id = "{USER[0]}", '
            f'secret_access_key = "{USER[1]}" }}]\npolicy_files = ["policy.json"]\n'
        )
        (Path(folder) / "policy.json").write_text(json.dumps(POLICY))
        with outcrop(2, OUTCROP_CONFIG=str(config)) as served:
            root, user = client(served.url, ROOT), client(served.url, USER)
            timed(root, 20)
            timed(user, 20)
            rounds = [(timed(root, args.requests // 5), timed(user, args.requests // 5)) for _ in range(5)]
    plain = statistics.median(t for r, _ in rounds for t in r)
    checked = statistics.median(t for _, u in rounds for t in u)
    print(f"CountTokens, median of {args.requests} each, interleaved in 5 rounds:")
    print(f"  root key (no policy): {plain:.2f} ms; identity with policies: {checked:.2f} ms; "
          f"ratio {checked / plain:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
