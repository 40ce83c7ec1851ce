"""Metrics and traces: Outcrop's /metrics scraped by a real Prometheus server (Debian's package,
started here on loopback) and queried through Prometheus's HTTP API; spans received by an OTLP
collector stand-in (a test double at the outside edge: a loopback HTTP server that decodes the
OTLP protobuf requests the real exporter sends)."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, Server, free_port, make_client, start_server, stop_server, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE = f"us.{HAIKU}"
NOVA = "amazon.nova-lite-v1:0"


def scrape(server: Server) -> str:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        return str(response.read().decode())


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a scrape (0 if absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        body = line[len(name) + 1 : line.index("}")]
        got = dict(part.split("=", 1) for part in body.split('",') if "=" in part)
        got = {k: v.strip('"') for k, v in got.items()}
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_bedrock_metrics_count_as_cloudwatch_does(server: Server) -> None:
    runtime = make_client("bedrock-runtime", server.url)
    before = scrape(server)
    answer = runtime.converse(modelId=PROFILE, messages=[user("Hi")], inferenceConfig={"maxTokens": 5})
    stream = runtime.converse_stream(modelId=PROFILE, messages=[user("Hi")], inferenceConfig={"maxTokens": 3})
    for _ in stream["stream"]:
        pass
    runtime.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user("Hi")]}})  # not an invocation
    after = scrape(server)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    # What it would have cost on Bedrock (Claude 3 Haiku: $0.00025 in, $0.00125 out per 1,000 tokens).
    usage = answer["usage"]
    expected = (usage["inputTokens"] * 0.00025 + usage["outputTokens"] * 0.00125) / 1000
    cost = float(answer["ResponseMetadata"]["HTTPHeaders"]["x-outcrop-estimated-cost-usd"])
    assert abs(cost - expected) < 1e-9
    model = {"ModelId": PROFILE, "Identity": "root"}  # signed with a key outside any identity
    assert grew("bedrock_Invocations_total", **model) == 2
    assert grew("bedrock_Invocations_total", ModelId=HAIKU) == 0  # CountTokens
    assert grew("bedrock_InputTokenCount_total", **model) == 2 * answer["usage"]["inputTokens"]
    assert grew("bedrock_OutputTokenCount_total", **model) >= answer["usage"]["outputTokens"]
    assert grew("bedrock_InvocationLatency_milliseconds_count", **model) == 2
    assert grew("bedrock_TimeToFirstToken_milliseconds_count", **model) >= 1
    assert grew("bedrock_EstimatedTPMQuotaUsage_total", **model) >= grew(
        "bedrock_InputTokenCount_total", **model
    )
    assert grew("outcrop_estimated_cost_usd_total", **model) >= cost
    assert sample(after, "outcrop_engine_loaded", model="smollm2-135m") == 1
    assert "outcrop_engine_kv_budget_tokens{" in after
    assert sample(after, "outcrop_engine_generated_tokens_total", model="smollm2-135m") > 0


def test_throttles_and_client_errors_are_counted_apart(tmp_path: Path) -> None:
    (tmp_path / "outcrop.toml").write_text(f'[[quotas]]\nmodels = ["{HAIKU}"]\nrequests_per_minute = 1\n')
    srv = start_server(tmp_path, "metered", args=["--config", str(tmp_path / "outcrop.toml")])
    try:
        runtime = boto3.client(
            "bedrock-runtime", endpoint_url=srv.url, region_name=REGION, aws_access_key_id="k",
            aws_secret_access_key="s", config=Config(retries={"total_max_attempts": 1}),
        )  # one attempt: botocore takes max_attempts as retries  # fmt: skip
        runtime.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 1})
        with pytest.raises(ClientError):
            runtime.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 1})
        with pytest.raises(ClientError):  # invalid input, on a model without a quota
            runtime.converse(modelId=NOVA, messages=[{"role": "assistant", "content": [{"text": "x"}]}])
        text = scrape(srv)
    finally:
        stop_server(srv)
    assert sample(text, "bedrock_Invocations_total", ModelId=HAIKU) == 1
    assert sample(text, "bedrock_InvocationThrottles_total", ModelId=HAIKU) == 1
    assert sample(text, "bedrock_InvocationClientErrors_total", ModelId=HAIKU) == 0
    assert sample(text, "bedrock_InvocationClientErrors_total", ModelId=NOVA) == 1
    assert sample(text, "bedrock_Invocations_total", ModelId=NOVA) == 0  # refused as invalid input
    assert sample(text, "bedrock_InvocationServerErrors_total", ModelId=HAIKU) == 0


@pytest.fixture()
def prometheus(server: Server, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus server scraping Outcrop every second."""
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is installed by scripts/install.sh --test (Debian's prometheus package)"
    port = free_port()
    target = urllib.parse.urlsplit(server.url).netloc
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: outcrop\n    static_configs:\n      - targets: ['{target}']\n"
    )
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success"
    return list(body["data"]["result"])


def test_prometheus_scrapes_outcrop_and_computes_a_rate(server: Server, prometheus: str) -> None:
    runtime = make_client("bedrock-runtime", server.url)
    deadline = time.monotonic() + 60
    rate: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not rate:
        runtime.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
        time.sleep(0.5)
        try:
            rate = query(prometheus, f'rate(bedrock_Invocations_total{{ModelId="{HAIKU}"}}[5s]) > 0')
        except OSError:
            continue  # Prometheus still starting
    assert rate, "Prometheus never saw invocations being counted"
    assert rate[0]["metric"]["job"] == "outcrop"
    assert float(rate[0]["value"][1]) > 0
    up = query(prometheus, 'up{job="outcrop"}')
    assert up and up[0]["value"][1] == "1"


class _Collector(http.server.BaseHTTPRequestHandler):
    """Test double for an OpenTelemetry collector: accepts OTLP/HTTP trace exports, keeps the spans."""

    spans: list[Any] = []

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                type(self).spans.extend(scope_spans.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_spans_follow_the_genai_conventions_over_otlp(tmp_path: Path) -> None:
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    srv = start_server(
        tmp_path, "traced", env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    )
    try:
        runtime = make_client("bedrock-runtime", srv.url)
        answer = runtime.converse(
            modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 4, "temperature": 0.5}
        )
        with pytest.raises(ClientError):
            runtime.converse(modelId=HAIKU, messages=[{"role": "assistant", "content": [{"text": "x"}]}])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(_Collector.spans) < 2:
            time.sleep(0.1)
    finally:
        stop_server(srv)
        collector.shutdown()
    ok, failed = _Collector.spans[:2]

    def attrs(span: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kv in span.attributes:
            value = kv.value
            kind = value.WhichOneof("value")
            out[kv.key] = (
                list(v.string_value for v in value.array_value.values)
                if kind == "array_value"
                else getattr(value, kind)
            )
        return out

    got = attrs(ok)
    assert ok.name == f"chat {HAIKU}"
    assert got["gen_ai.operation.name"] == "chat" and got["gen_ai.provider.name"] == "aws.bedrock"
    assert got["gen_ai.request.model"] == HAIKU
    assert got["gen_ai.usage.input_tokens"] == answer["usage"]["inputTokens"]
    assert got["gen_ai.usage.output_tokens"] == answer["usage"]["outputTokens"]
    assert got["gen_ai.response.finish_reasons"] == [answer["stopReason"]]
    assert got["gen_ai.request.max_tokens"] == 4 and got["gen_ai.request.temperature"] == 0.5
    assert got["aws.request_id"] == answer["ResponseMetadata"]["RequestId"]
    assert ok.end_time_unix_nano - ok.start_time_unix_nano >= answer["metrics"]["latencyMs"] * 1e6 * 0.5
    assert attrs(failed)["error.type"] == "ValidationException" and failed.status.code == 2  # ERROR
