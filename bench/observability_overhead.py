"""What invocation logging, metrics and traces cost per invocation.

1. In-process, per record: the metrics hook, the invocation-logging hook (build Bedrock's record
   and spool it to SQLite) and the tracing hook (a span into the OpenTelemetry SDK's batch
   processor, exporting to a dead endpoint).
2. End to end, on one server (embedded S3): one-token Converse calls with invocation logging on
   (S3 and the local CloudWatch sink, text delivery) and off, interleaved in rounds; medians and
   their ratio. Metrics are always on, so their cost is the in-process figure.

Run: .venv/bin/python bench/observability_overhead.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import types
import urllib.request
from typing import Any

import boto3
from _server import outcrop
from botocore.config import Config

from outcrop.auth import Identity
from outcrop.config import load_settings
from outcrop.invocation.record import InvocationRecord
from outcrop.logs.service import InvocationLogging
from outcrop.metrics.bedrock import BedrockMetrics

REGION = "us-east-1"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def record(n: int) -> InvocationRecord:
    request = {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": "Name a colour."}]}],
        "inferenceConfig": {"maxTokens": 8},
    }
    response = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Blue is a colour."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17},
        "metrics": {"latencyMs": 120},
    }
    return InvocationRecord(
        str(n),
        "Converse",
        Identity("sigv4", "k", None),
        "api",
        MODEL,
        dt.datetime.now(dt.UTC),
        resolved_model_id=MODEL,
        served_model="smollm2-135m",
        input_tokens=12,
        output_tokens=5,
        latency_ms=120,
        first_token_ms=40,
        stop_reason="end_turn",
        request=request,
        response=response,
        estimated_cost_usd=0.0000093,
    )


def per_record_us(hook: Any, n: int) -> float:
    records = [record(i) for i in range(n)]
    started = time.perf_counter()
    for r in records:
        hook(r)
    return (time.perf_counter() - started) / n * 1e6


def in_process(n: int) -> None:
    from prometheus_client import CollectorRegistry

    metrics = BedrockMetrics(CollectorRegistry())
    print(f"metrics hook: {per_record_us(metrics.observe, n):.1f} µs per invocation")
    with tempfile.TemporaryDirectory() as state:
        settings = load_settings(env={"OUTCROP_STATE_DIR": state})
        logging_ = InvocationLogging(types.SimpleNamespace(settings=settings))  # type: ignore[arg-type]
        logging_.put(
            {
                "s3Config": {"bucketName": "b"},
                "cloudWatchConfig": {"logGroupName": "g", "roleArn": "arn:aws:iam::123456789012:role/r"},
                "textDataDeliveryEnabled": True,
            }
        )
        records = [record(i) for i in range(n)]

        async def in_a_server() -> tuple[float, float]:
            """As in the server: the hook on the event loop, the spool written by a worker thread."""
            started = time.perf_counter()
            for r in records:
                logging_.observe(r)
                await asyncio.sleep(0)  # the loop turns between invocations
            hook = time.perf_counter() - started
            await asyncio.to_thread(logging_._spooled)
            return hook / n * 1e6, (time.perf_counter() - started) / n * 1e6

        hook, total = asyncio.run(in_a_server())
        print(
            f"invocation-logging hook (two destinations): {hook:.1f} µs per invocation on the event loop; "
            f"spooled by the worker thread at {total:.1f} µs per record"
        )
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    from outcrop.traces.spans import Tracer

    tracer = Tracer()
    print(f"tracing hook: {per_record_us(tracer.observe, n):.1f} µs per invocation")
    os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT")


def timed(runtime: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        runtime.converse(
            modelId=MODEL,
            messages=[{"role": "user", "content": [{"text": "Hi"}]}],
            inferenceConfig={"maxTokens": 1, "temperature": 0},
        )
        out.append((time.perf_counter() - started) * 1000)
    return out


def end_to_end(requests: int) -> None:
    with outcrop(2, OUTCROP_EMBEDDED_S3="1", OUTCROP_INVOCATION_LOG_FLUSH="1") as served:

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=served.url,
                region_name=REGION,
                aws_access_key_id="k",
                aws_secret_access_key="s",
                config=Config(retries={"max_attempts": 1}),
            )

        runtime, bedrock = client("bedrock-runtime"), client("bedrock")
        deadline = time.monotonic() + 60
        while True:  # the embedded S3 takes a few seconds to start
            try:
                with urllib.request.urlopen(f"{served.url}/_outcrop/health") as response:
                    endpoint = json.load(response)["s3_endpoint"]
                if endpoint:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.5)
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="k",
            aws_secret_access_key="s",
            config=Config(s3={"addressing_style": "path"}),
        )
        s3.create_bucket(Bucket="bench-logs")
        config = {
            "s3Config": {"bucketName": "bench-logs"},
            "textDataDeliveryEnabled": True,
            "cloudWatchConfig": {"logGroupName": "/bench", "roleArn": "arn:aws:iam::123456789012:role/r"},
        }
        timed(runtime, 20)
        on: list[float] = []
        off: list[float] = []
        for _ in range(5):
            bedrock.put_model_invocation_logging_configuration(loggingConfig=config)
            on += timed(runtime, requests // 5)
            bedrock.delete_model_invocation_logging_configuration()
            off += timed(runtime, requests // 5)
    print(f"Converse (1 token), median of {requests} each, interleaved in 5 rounds:")
    print(
        f"  logging off: {statistics.median(off):.2f} ms; logging on (S3 + sink): "
        f"{statistics.median(on):.2f} ms; ratio {statistics.median(on) / statistics.median(off):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--records", type=int, default=5000, help="records for the in-process figures")
    args = parser.parse_args()
    in_process(args.records)
    end_to_end(args.requests)


if __name__ == "__main__":
    main()
