"""An interactive user's time to first token while a batch job runs, against an idle server, and
what the embedded S3 server costs (start-up time, memory).

Run: .venv/bin/python bench/jobs_fairness.py [--threads 2] [--requests 8] [--records 60]

One server (bundled model, embedded SeaweedFS). First ``--requests`` ConverseStream calls one after
another on the idle server, then a batch job of ``--records`` records (64 output tokens each) is
started and, once it is running, the same calls again. Printed: median time to first token and
to the last token, idle and during the job, and their ratios; the job's progress meanwhile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
import uuid
from typing import Any

import boto3
from _server import outcrop
from botocore.config import Config
from request_overhead import clients

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/Bench"


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_outcrop/health", timeout=5) as response:
        return dict(json.load(response))


def stream_times(runtime: Any, n: int) -> tuple[list[float], list[float]]:
    """(time to first token, total) in seconds, for n streamed answers one after another."""
    first, total = [], []
    for i in range(n):
        started = time.perf_counter()
        events = runtime.converse_stream(
            modelId=MODEL,
            messages=[
                {"role": "user", "content": [{"text": f"Give me one tip about gardening, number {i}."}]}
            ],
            inferenceConfig={"maxTokens": 32, "temperature": 0},
        )["stream"]
        seen = None
        for event in events:
            if seen is None and "contentBlockDelta" in event:
                seen = time.perf_counter() - started
        first.append(seen if seen is not None else time.perf_counter() - started)
        total.append(time.perf_counter() - started)
    return first, total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--records", type=int, default=60)
    args = parser.parse_args()
    with outcrop(args.threads, OUTCROP_EMBEDDED_S3="1") as served:
        deadline = time.monotonic() + 60
        while not health(served.url).get("s3_endpoint"):
            assert time.monotonic() < deadline, "no embedded S3"
            time.sleep(0.2)
        state = health(served.url)
        runtime, control = clients(served.url)
        s3 = boto3.client("s3", endpoint_url=state["s3_endpoint"], region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench",
                          config=Config(s3={"addressing_style": "path"}))  # fmt: skip
        stream_times(runtime, 2)  # warm-up
        idle_first, idle_total = stream_times(runtime, args.requests)
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)

        def record(n: int) -> str:
            story = f"Write a short story about a lighthouse, part {n}."
            body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                    "messages": [{"role": "user", "content": story}]}  # fmt: skip
            return json.dumps({"recordId": str(n), "modelInput": body})

        body = "\n".join(record(n) for n in range(args.records))
        s3.put_object(Bucket=bucket, Key="in/records.jsonl", Body=body.encode())
        arn = control.create_model_invocation_job(
            jobName=f"bench-{uuid.uuid4().hex[:8]}", modelId=MODEL, roleArn=ROLE,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{bucket}/in/records.jsonl"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/out/"}},
        )["jobArn"]  # fmt: skip
        while control.get_model_invocation_job(jobIdentifier=arn)["status"] != "InProgress":
            time.sleep(0.2)
        before = control.get_model_invocation_job(jobIdentifier=arn)["processedRecordCount"]
        busy_first, busy_total = stream_times(runtime, args.requests)
        job = control.get_model_invocation_job(jobIdentifier=arn)
        control.stop_model_invocation_job(jobIdentifier=arn)
    med = statistics.median
    print(f"embedded S3: answered after {state['jobs'].get('s3_embedded_start_s')} s, "
          f"{state['jobs'].get('s3_embedded_mb')} MB resident")  # fmt: skip
    print(f"batch job during the busy round: records {before} -> {job['processedRecordCount']} of "
          f"{job['totalRecordCount']} ({job['status']})")  # fmt: skip
    print("| | idle | during a batch job | ratio |")
    print("|---|---|---|---|")
    for label, idle, busy in (("time to first token", idle_first, busy_first),
                              ("whole answer, 32 tokens", idle_total, busy_total)):  # fmt: skip
        ratio = med(busy) / med(idle)
        print(f"| {label} (median) | {med(idle) * 1000:.0f} ms | {med(busy) * 1000:.0f} ms | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
