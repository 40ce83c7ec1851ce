"""The ``outcrop`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import Callable

from . import __version__
from .config import ConfigError, Settings, load_settings


def _setup_logging(level: str) -> None:
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler()
        fmt = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("hypercorn.error").setLevel(logging.WARNING)


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, host=args.host, port=args.port, threads=args.threads)
    except ConfigError as exc:
        print(f"outcrop: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    from .http.server import PortTaken, run

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings))
    except PortTaken as exc:
        print(f"outcrop: {exc}", file=sys.stderr)
        return 2
    return 0


def _with_settings(
    command: Callable[[argparse.Namespace, Settings], int],
) -> Callable[[argparse.Namespace], int]:
    """A subcommand that reads the settings (--config, then OUTCROP_*): a bad setting is said the
    same way for all, before the command runs."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            print(f"outcrop: {exc}", file=sys.stderr)
            return 2
        return command(args, settings)

    return run


@_with_settings
def _models(args: argparse.Namespace, settings: Settings) -> int:
    from .engines.llamacpp.model_files import resolve_model_path

    for model in settings.models:
        marker = " (default)" if model.name == settings.default_model else ""
        try:
            path = resolve_model_path(model.path)
        except FileNotFoundError as exc:
            path = f"MISSING: {exc}"
        print(f"{model.name}{marker}: {path}")
    for pattern, target in settings.routes.items():
        print(f"  route {pattern} -> {target}")
    return 0


@_with_settings
def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from .jobs.progress import show

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    endpoint = args.endpoint or f"{'https' if settings.tls_cert else 'http'}://{host}:{settings.port}"
    try:
        return show(endpoint, settings.region, watch=args.watch)
    except (BotoCoreError, ClientError) as exc:
        print(f"outcrop: could not read jobs from {endpoint}: {exc}", file=sys.stderr)
        return 1


@_with_settings
def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from .auth.keys import make_key
    from .store.keys import FILENAME, KeyStore
    from .store.sqlite import open_once

    store = open_once(KeyStore, settings.state_dir, FILENAME)
    if args.action == "create":
        if args.user and settings.identity(args.user) is None:
            print(
                f"outcrop: no identity named {args.user!r} in the configuration: add it under "
                "[[identities]] with its policies (docs/policies.md)",
                file=sys.stderr,
            )
            return 2
        key = make_key(store, args.kind, args.user, settings.account_id, args.description or "")
        who = f"identity {args.user}" if args.user else "the account's root (no policy limits it)"
        if args.kind == "sigv4":
            print(f"AWS_ACCESS_KEY_ID={key.key_id}\nAWS_SECRET_ACCESS_KEY={key.secret}")
        else:
            print(f"AWS_BEARER_TOKEN_BEDROCK={key.secret}")
        print(f"# key {key.key_id} for {who}; the secret is not shown again.", file=sys.stderr)
        if not settings.stored_keys and not (settings.credentials or settings.api_keys):
            print("# a server already running in open mode keeps serving without keys until restarted.",
                  file=sys.stderr)  # fmt: skip
        return 0
    if args.action == "revoke":
        if not args.key_id:
            print("outcrop: keys revoke needs the key id (see `outcrop keys list`)", file=sys.stderr)
            return 2
        if store.revoke(args.key_id):
            print(f"revoked {args.key_id}")
            return 0
        print(f"outcrop: no active key {args.key_id}", file=sys.stderr)
        return 1
    keys = store.all()
    if not keys:
        print("no keys made with `outcrop keys create` yet")
    for stored in keys:
        state = f"revoked {stored.revoked}" if stored.revoked else "active"
        who = stored.user or "root"
        note = f"  {stored.description}" if stored.description else ""
        print(f"{stored.key_id}  {stored.kind:5}  {who:12}  created {stored.created}  {state}{note}")
    return 0


@_with_settings
def _logs(args: argparse.Namespace, settings: Settings) -> int:
    from .logs.follow import show, sinks
    from .logs.service import sink_path

    paths = [sink_path(settings.state_dir, args.group)] if args.group else sinks(settings.state_dir)
    paths = [p for p in paths if p.exists()]
    if not paths:
        print(
            "no invocation logs here yet: turn logging on with a cloudWatchConfig "
            "(aws bedrock put-model-invocation-logging-configuration …; docs/observability.md)",
            file=sys.stderr,
        )
        return 1
    if len(paths) > 1:
        names = ", ".join(str(p) for p in paths)
        print(f"outcrop: several log groups ({names}); pick one with --group", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        show(paths[0], lines=args.lines, follow=args.follow, raw=args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outcrop",
        description="A self-hosted Amazon Bedrock: point any Bedrock client's endpoint URL here.",
    )
    parser.add_argument("--version", action="version", version=f"outcrop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve bedrock-runtime and bedrock control-plane APIs on one port",
        description="Serve the Bedrock Runtime and control-plane APIs on one port (HTTP/1.1 and h2c). "
        "Settings come from --config, then OUTCROP_* environment variables, then these flags; "
        "see docs/configuration.md.",
    )
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    serve.add_argument("--config", default=None, help="TOML configuration file")
    serve.add_argument("--threads", type=int, default=None, help="CPU threads for the engine (default 2)")
    serve.set_defaults(func=_serve)
    models = sub.add_parser("models", help="list the local models Outcrop would serve, and the routes")
    models.add_argument("--config", default=None, help="TOML configuration file")
    models.set_defaults(func=_models)
    jobs = sub.add_parser(
        "jobs",
        help="list a running server's async invocations and batch jobs (--watch: follow them)",
        description="Async invocations and batch inference jobs of a running server, read through its API.",
    )
    jobs.add_argument("--endpoint", default=None, help="the server's URL (default: from the settings)")
    jobs.add_argument("--config", default=None, help="TOML configuration file")
    jobs.add_argument("--watch", action="store_true", help="progress bars until every running job ends")
    jobs.set_defaults(func=_jobs)
    keys = sub.add_parser(
        "keys",
        help="create, list and revoke API keys and SigV4 access keys",
        description="Keys for this server, kept in the state directory: API keys stored as a digest "
        "(shown once), SigV4 secrets as they are (a signature cannot be checked without them). "
        "A revoked key is refused from the next request on; see docs/policies.md.",
    )
    keys.add_argument("action", choices=["create", "list", "revoke"], help="what to do")
    keys.add_argument("key_id", nargs="?", help="the key to revoke")
    keys.add_argument("--user", default=None, help="the configured identity the key belongs to "
                      "(default: the account's root, which no policy limits)")  # fmt: skip
    keys.add_argument("--kind", choices=["api", "sigv4"], default="api",
                      help="api: a bearer API key (default); sigv4: an access key pair")  # fmt: skip
    keys.add_argument("--description", default=None, help="a note kept with the key")
    keys.add_argument("--config", default=None, help="TOML configuration file")
    keys.set_defaults(func=_keys)
    logs = sub.add_parser(
        "logs",
        help="read (or --follow) the model invocation logs delivered to the local CloudWatch sink",
        description="Model invocation log records of the cloudWatchConfig log group, one line each "
        "(--json: the records as delivered). They live in <state_dir>/cloudwatch/<group>.jsonl.",
    )
    logs.add_argument("--group", default=None, help="the log group (default: the only one there is)")
    logs.add_argument("-n", "--lines", type=int, default=20, help="how many of the last records (0: all)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing records as they come")
    logs.add_argument("--json", action="store_true", help="the records as JSON lines")
    logs.add_argument("--config", default=None, help="TOML configuration file")
    logs.set_defaults(func=_logs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
