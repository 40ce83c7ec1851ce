"""A remote engine: a served model answered by an OpenAI-compatible server (vLLM, llama.cpp's
llama-server, Ollama, SGLang), for when one machine is not enough.

The remote renders its own chat template, so we send chat ``messages`` built exactly as the
local engine builds them (block text, tools described in the system prompt) and stream its
tokens back. Tool calls use the same text protocol as locally (``<tool_call>`` as a stop
sequence, then a GBNF grammar), which needs a server that honours a grammar (llama-server,
llama-cpp-python's server; vLLM's ``guided_grammar``). Stop sequences are matched here, not by
the remote, so the sequence that stopped the answer is always known.

Errors (never a fallback to a local model), which the pipeline says as AWS would:

* backend unreachable (refused, DNS, connect timeout) → ``EngineUnavailable`` (503);
* no token within ``timeout_seconds`` (first one or between two) → ``EngineTimeout`` (408);
* the remote answered with an error or broke the stream → ``EngineFailed`` (424);
  its 429 → ``EngineBusy``, its 502/503/504 → ``EngineUnavailable``;
* every pooled connection busy for ``timeout_seconds`` → ``EngineBusy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..config import ServedModel
from ..conversation import Conversation, EngineEvent, Finished, InferenceParams, Started, TextDelta
from .base import Cancellation, Engine, Prompt, ensure_fits
from .chat import THINK_CLOSE, THINK_OPEN, chat_messages
from .errors import (
    BUSY,
    LOADING,
    EngineBusy,
    EngineError,
    EngineFailed,
    EngineLoading,
    EngineTimeout,
    EngineUnavailable,
)
from .stops import StopMatcher

log = logging.getLogger("outcrop.engine")

TIMEOUT_MESSAGE = "Model has timed out in processing the request. Try your request again."
UNAVAILABLE_MESSAGE = "The service isn't currently available. Try again later."
MODEL_ERROR_MESSAGE = "The model returned an error while processing the request: {}"
CONNECT_TIMEOUT = 10.0  # seconds; connecting is not the model's processing time
TOKENIZE_CONNECTIONS = 4
TOKENIZE_TIMEOUT = 10.0  # a tokenize call answers in milliseconds; longer means the backend is stuck
DEFAULT_CONTEXT = 4096  # when neither the config nor the remote says
# Chat-template markup per message (ChatML: <|im_start|>role\n … <|im_end|>\n) and for the
# generation prompt: the remote's template is not known here, so token counts add this.
TEMPLATE_TOKENS_PER_MESSAGE = 4
CHARS_PER_TOKEN = 4  # estimate when the remote has no tokenize endpoint (Ollama, SGLang)


@dataclass
class RemotePrompt(Prompt):
    """A prompt for a remote: the chat messages it renders itself. ``tokens`` are the remote's
    own token ids when it can tokenize, else placeholders of the estimated count."""

    messages: list[dict[str, str]] = field(default_factory=list)
    prefill: bool = False  # the last message is an assistant answer to continue
    exact: bool = False  # tokens came from the remote's tokenizer


def _api_key(value: str | None) -> str | None:
    """``$NAME`` reads the key from the environment, so it need not sit in the config file."""
    if value and value.startswith("$"):
        return os.environ.get(value[1:]) or None
    return value or None


def _base_url(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class OpenAICompatEngine(Engine):
    def __init__(self, model: ServedModel, *, max_connections: int = 64) -> None:
        if not model.url:
            raise ValueError(f"model {model.name!r}: engine 'openai' needs a url")
        self.name = model.name
        self.base_url = _base_url(model.url)
        self.model_path = self.base_url  # shown by /_outcrop/health and the start-up log
        self.remote_model = model.remote_model or ""
        self.context_length = model.context_length or 0
        self.fit_tokens = model.fit_tokens or None  # by default, as much of the window as fits
        self.threads = 0  # inference runs remotely
        self.stats = {"completed": 0, "cancelled": 0, "failed": 0}
        key = _api_key(model.api_key)
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._timeout = httpx.Timeout(model.timeout_seconds, connect=CONNECT_TIMEOUT)
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=min(max_connections, 16)
        )
        # Synchronous client for load() (a worker thread); requests use the async one.
        self._sync = httpx.Client(headers=self._headers, timeout=self._timeout, limits=self._limits)
        self._client: httpx.AsyncClient | None = None  # made on the serving loop, at first use
        self._tokenizer_client: httpx.AsyncClient | None = None
        self._streaming = 0  # generations streaming from the remote now
        self._tokenizer: str | None = None  # "tokenize" | "extras" | "estimate"; None: not probed
        self._loaded = False

    @property
    def ready(self) -> bool:
        return self._loaded

    # ---- start-up ------------------------------------------------------------------------

    def load(self, on_stage: Callable[[str], None] | None = None) -> None:
        """Check the backend answers ``GET /v1/models`` and learn its model and tokenizer. A
        backend that is down is logged, not fatal: requests get 503 until it comes back."""
        if on_stage:
            on_stage(f"connecting to {self.base_url}")
        try:
            response = self._sync.get(f"{self.base_url}/v1/models", timeout=CONNECT_TIMEOUT)
            response.raise_for_status()
            listed = response.json().get("data", [])
        except (httpx.HTTPError, ValueError) as exc:
            log.error(
                "remote engine %s: %s/v1/models failed (%s); is the OpenAI-compatible server running? "
                "Requests get ServiceUnavailableException until it answers.",
                self.name, self.base_url, exc,
            )  # fmt: skip
            self.context_length = self.context_length or DEFAULT_CONTEXT
            self._loaded = True
            return
        ids = [str(m.get("id")) for m in listed if isinstance(m, dict)]
        if not self.remote_model:
            if not ids:
                raise RuntimeError(
                    f"remote engine {self.name}: {self.base_url} lists no models; set remote_model"
                )
            self.remote_model = ids[0]
        if not self.context_length:
            entry = next((m for m in listed if isinstance(m, dict) and m.get("id") == self.remote_model), {})
            meta = entry.get("meta") or {}
            reported = entry.get("max_model_len") or meta.get("n_ctx_train")  # vLLM, llama-server
            self.context_length = int(reported or DEFAULT_CONTEXT)
        self._probe_tokenizer()
        self._loaded = True

    def _probe_tokenizer(self) -> None:
        """``POST /tokenize`` (llama-server, vLLM, SGLang) or ``/extras/tokenize`` (llama-cpp-python);
        otherwise counts are estimated."""
        for kind in ("tokenize", "extras"):
            try:
                self._remote_tokens(kind, "Hello")
            except (httpx.ConnectError, httpx.ConnectTimeout):
                raise  # unreachable: not a reason to estimate
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
            self._tokenizer = kind
            return
        self._tokenizer = "estimate"
        log.warning("remote engine %s: no tokenize endpoint; token counts are estimates", self.name)

    def _tokenize_request(self, kind: str, text: str) -> tuple[str, dict[str, Any]]:
        if kind == "tokenize":
            # llama-server reads "content", vLLM "prompt"; each ignores the other's field.
            body: dict[str, Any] = {"model": self.remote_model, "content": text, "prompt": text}
            body["add_special"] = False
            return f"{self.base_url}/tokenize", body
        return f"{self.base_url}/extras/tokenize", {"model": self.remote_model, "input": text}

    def _remote_tokens(self, kind: str, text: str) -> list[int]:
        url, body = self._tokenize_request(kind, text)
        response = self._sync.post(url, json=body, timeout=TOKENIZE_TIMEOUT)
        response.raise_for_status()
        return [int(t) for t in response.json()["tokens"]]

    async def _remote_tokens_async(self, kind: str, text: str) -> list[int]:
        url, body = self._tokenize_request(kind, text)
        response = await self._tokenize_client().post(url, json=body, timeout=TOKENIZE_TIMEOUT)
        response.raise_for_status()
        return [int(t) for t in response.json()["tokens"]]

    def _async_client(self) -> httpx.AsyncClient:
        """Made on the serving loop, at first use."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers=self._headers, timeout=self._timeout, limits=self._limits
            )
        return self._client

    def _tokenize_client(self) -> httpx.AsyncClient:
        """Tokenize calls have their own small pool: long generations holding every streaming
        connection must not turn a count into an estimate."""
        if self._tokenizer_client is None:
            self._tokenizer_client = httpx.AsyncClient(
                headers=self._headers,
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=TOKENIZE_CONNECTIONS),
            )
        return self._tokenizer_client

    # ---- prompts -------------------------------------------------------------------------

    async def prepare(self, conversation: Conversation) -> Prompt:
        if not self._loaded:
            raise EngineLoading(LOADING)
        messages = chat_messages(conversation)
        prefill = bool(messages) and messages[-1]["role"] == "assistant"
        text = "".join(f"{m['role']}\n{m['content']}\n" for m in messages)
        markup = TEMPLATE_TOKENS_PER_MESSAGE * (len(messages) + 1)
        tokens, exact = await self._count(text)
        tokens = tokens + [0] * markup
        return RemotePrompt(tokens=tokens, text=text, messages=messages, prefill=prefill, exact=exact)

    async def _count(self, text: str) -> tuple[list[int], bool]:
        """The remote's token ids; a dead backend is refused here, before a stream starts."""
        if self._tokenizer is None:  # the backend was down at start-up or since
            try:
                await asyncio.to_thread(self._probe_tokenizer)
            except httpx.HTTPError:
                raise EngineUnavailable(UNAVAILABLE_MESSAGE) from None
        if self._tokenizer in ("tokenize", "extras"):
            try:
                return await self._remote_tokens_async(self._tokenizer, text), True
            except (httpx.ConnectError, httpx.ConnectTimeout):
                self._tokenizer = None  # probe again once it is back
                raise EngineUnavailable(UNAVAILABLE_MESSAGE) from None
            except httpx.PoolTimeout:
                raise EngineBusy(BUSY) from None
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                log.warning("remote engine %s: tokenize failed (%s); estimating", self.name, exc)
        return [0] * (len(text) // CHARS_PER_TOKEN + 1), False

    # ---- generation ----------------------------------------------------------------------

    def submit(
        self, prompt: Prompt, params: InferenceParams, cancel: Cancellation
    ) -> AsyncIterator[EngineEvent]:
        if not isinstance(prompt, RemotePrompt):
            raise TypeError("prompt was not prepared by this engine")
        ensure_fits(prompt, self.context_length)
        return self._stream(self._async_client(), prompt, params, cancel)

    def _body(self, prompt: RemotePrompt, params: InferenceParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.remote_model,
            "messages": prompt.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key, value in (
            ("max_tokens", params.max_tokens),
            ("temperature", params.temperature),
            ("top_p", params.top_p),
            ("top_k", params.top_k),  # an extension vLLM, llama-server, SGLang accept
        ):
            if value is not None:
                body[key] = value
        if params.grammar:
            body["grammar"] = params.grammar  # llama-server, llama-cpp-python
            body["guided_grammar"] = params.grammar  # vLLM (xgrammar reads GBNF)
        if prompt.prefill:
            # vLLM continues a trailing assistant message only when told; llama-server does so itself.
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        return body

    async def _stream(
        self, client: httpx.AsyncClient, prompt: RemotePrompt, params: InferenceParams, cancel: Cancellation
    ) -> AsyncIterator[EngineEvent]:
        stops = StopMatcher(params.stop_sequences)
        chunks = 0
        usage: dict[str, Any] = {}
        finish: str | None = None
        matched: str | None = None
        thinking = False
        outcome = "failed"
        self._streaming += 1
        try:
            async with client.stream(
                "POST", f"{self.base_url}/v1/chat/completions", json=self._body(prompt, params)
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _http_error(response)
                yield Started(len(prompt.tokens))  # the remote has no cache-point accounting
                async for line in response.aiter_lines():
                    if cancel.cancelled:
                        outcome = "cancelled"
                        return
                    data = _sse_data(line)
                    if data is None:
                        continue
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if chunk.get("error"):
                        raise EngineFailed(MODEL_ERROR_MESSAGE.format(chunk["error"]))
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        piece, thinking = _with_think_tags(delta, thinking)
                        if piece:
                            chunks += 1
                            safe, matched = stops.feed(piece)
                            if safe:
                                yield TextDelta(safe)
                            if matched is not None:
                                break
                        finish = choice.get("finish_reason") or finish
                    if matched is not None:
                        break  # closing the response makes the remote stop generating
            if matched is None:
                tail = stops.flush()
                if tail:
                    yield TextDelta(tail)
            outcome = "completed"
            yield self._finished(prompt, usage, chunks, finish, matched)
        except GeneratorExit:  # the caller stopped reading: the client went away (or it had all)
            if outcome != "completed":
                outcome = "cancelled"
            raise
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                raise EngineUnavailable(UNAVAILABLE_MESSAGE) from None
            if isinstance(exc, httpx.PoolTimeout):
                raise EngineBusy(BUSY) from None
            raise EngineTimeout(TIMEOUT_MESSAGE) from None
        except httpx.ConnectError:
            log.warning("remote engine %s: %s refused the connection", self.name, self.base_url)
            raise EngineUnavailable(UNAVAILABLE_MESSAGE) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise EngineFailed(MODEL_ERROR_MESSAGE.format(exc)) from None
        finally:
            self._streaming -= 1
            self.stats[outcome] += 1

    def _finished(
        self,
        prompt: RemotePrompt,
        usage: dict[str, Any],
        chunks: int,
        finish: str | None,
        matched: str | None,
    ) -> Finished:
        """Usage from the remote's final chunk when it sent one (and the answer was not cut
        short here at a stop sequence); otherwise our count and one token per streamed chunk."""
        if usage.get("prompt_tokens") and matched is None:
            input_tokens = int(usage["prompt_tokens"])
            output_tokens = int(usage.get("completion_tokens") or chunks)
        else:
            input_tokens, output_tokens = len(prompt.tokens), chunks
        if matched is not None:
            return Finished("stop_sequence", input_tokens, output_tokens, stop_sequence=matched)
        reason = "max_tokens" if finish == "length" else "end_turn"
        return Finished(reason, input_tokens, output_tokens)

    def activity(self) -> dict[str, int]:
        return {"active_sequences": self._streaming}

    def close(self) -> None:
        self._sync.close()
        clients = [c for c in (self._client, self._tokenizer_client) if c is not None]
        self._client = self._tokenizer_client = None
        for client in clients:
            # Without a running loop the process is ending, and the sockets go with it.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(client.aclose())


def _with_think_tags(delta: dict[str, Any], thinking: bool) -> tuple[str, bool]:
    """A delta's text, with a separate ``reasoning_content`` (vLLM, llama-server) put back in
    ``<think>`` tags, which the answer planner turns into reasoning blocks."""
    reasoning = delta.get("reasoning_content") or ""
    content = delta.get("content") or ""
    piece = ""
    if reasoning:
        piece = reasoning if thinking else THINK_OPEN + reasoning
        thinking = True
    if content and thinking:
        piece, thinking = piece + THINK_CLOSE, False
    return piece + content, thinking


def _sse_data(line: str) -> str | None:
    """The payload of a server-sent event's ``data:`` line (comments and other fields skipped)."""
    if not line.startswith("data:"):
        return None
    return line[5:].strip()


def _http_error(response: httpx.Response) -> EngineError:
    detail = response.text[:500].strip() or response.reason_phrase
    if response.status_code == 429:
        return EngineBusy(BUSY)
    if response.status_code in (502, 503, 504):
        return EngineUnavailable(UNAVAILABLE_MESSAGE)
    log.warning("remote engine answered %d: %s", response.status_code, detail)
    return EngineFailed(MODEL_ERROR_MESSAGE.format(f"{response.status_code} {detail}"))
