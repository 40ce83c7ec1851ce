"""No hidden system prompt: a chat template's own default system text (SmolLM2's "You are a helpful
AI assistant named SmolLM…") is neither shown to the model nor billed when the request has none."""

from __future__ import annotations

from typing import Any

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from conftest import user
from outcrop.engines.default_system import DefaultSystem, default_system, without_default

MODEL = "amazon.nova-lite-v1:0"

QWEN_LIKE = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
    "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
LLAMA3_LIKE = (  # a system turn always, with a date header: nothing the client did not send to cut
    "{{- bos_token }}{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\nToday Date: 26 Jul 2024\\n\\n' + system_message + "
    "'<|eot_id|>' }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}{%- endfor %}"
)
PLAIN = "{%- for m in messages %}{{ '[' + m.role + '] ' + m.content + '\\n' }}{%- endfor %}"


def renderer(template: str) -> Any:
    formatter = Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<s>")
    return lambda messages: str(formatter(messages=messages).prompt)


def test_the_default_turn_is_found_in_templates_that_insert_one() -> None:
    assert default_system(renderer(QWEN_LIKE)) == DefaultSystem(
        "<|im_start|>system\nYou are Qwen, a helpful assistant.<|im_end|>\n",
        "You are Qwen, a helpful assistant.",
    )
    assert default_system(renderer(LLAMA3_LIKE)) is None
    assert default_system(renderer(PLAIN)) is None


def test_no_system_prompt_bills_only_what_the_client_sent(runtime: Any) -> None:
    def counted(**extra: Any) -> int:
        request = {"messages": [user("Hi")], **extra}
        return int(runtime.count_tokens(modelId=MODEL, input={"converse": request})["inputTokens"])

    bare = counted()
    with_system = counted(system=[{"text": "Be brief."}])
    # Before: the template's 21-token default made a bare "Hi" cost more than one with a system prompt.
    assert bare < with_system
    assert bare <= 10, bare  # <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n
    answer = runtime.converse(modelId=MODEL, messages=[user("Hi")], inferenceConfig={"maxTokens": 1})
    assert answer["usage"]["inputTokens"] == bare


def test_the_default_text_is_cut_from_a_template_tool_listing() -> None:
    """Qwen2.5's template writes its default system text at the head of the turn that lists the
    tools when the request has no system prompt; it is cut there too, the listing stays."""
    found = default_system(renderer(QWEN_LIKE))
    listing = "<|im_start|>system\nYou are Qwen, a helpful assistant.\n\n# Tools\n[…]<|im_end|>\n<|im_start|>user\nHi"
    assert without_default(listing, found, tools_offered=True) == (
        "<|im_start|>system\n\n\n# Tools\n[…]<|im_end|>\n<|im_start|>user\nHi"
    )
    assert without_default(listing, found) == listing  # no tools offered: only the whole turn is cut
