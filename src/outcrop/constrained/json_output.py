"""Structured output: a GBNF grammar that makes the whole answer one JSON value of a schema.

Converse's ``outputConfig.textFormat`` (``json_schema``) asks for this. It uses the same schema
clean-up and string rules as tool-call grammars (``tool_calls.py``), so both accept the same
subset of JSON Schema and both produce strict JSON.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from ..protocol.errors import ValidationException
from .tool_calls import SAFE_CHAR_RULE, sanitize_schema


def parse_schema(text: str) -> dict[str, Any]:
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationException(f"The provided JSON schema is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ValidationException("The provided JSON schema is nested too deeply.") from None
    if not isinstance(schema, dict):
        raise ValidationException("The provided JSON schema must be a JSON object.")
    return schema


def schema_grammar(schema: dict[str, Any]) -> str:
    return _grammar(json.dumps(schema, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _grammar(key: str) -> str:
    from llama_cpp.llama_grammar import LlamaGrammar, SchemaConverter

    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    clean = sanitize_schema(json.loads(key)) or {"type": "object"}
    try:
        converter.visit(converter.resolve_refs(clean, "schema"), "")
    except Exception as exc:
        raise ValidationException(f"The provided JSON schema is not supported: {exc}") from None
    if "char" in converter._rules:
        converter._rules["char"] = SAFE_CHAR_RULE
    text = str(converter.format_grammar())
    try:
        LlamaGrammar.from_string(text, verbose=False)
    except Exception:
        raise ValidationException("The provided JSON schema is not supported.") from None
    return text
