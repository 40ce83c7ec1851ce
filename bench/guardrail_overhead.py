"""What a guardrail costs a request: ApplyGuardrail per policy set, and Converse with and without a
guardrail in the same run.

Run: .venv/bin/python bench/guardrail_overhead.py [--requests 40] [--threads 2]

One boto3 client sends requests one after another against a fresh `outcrop serve`. Text: a
~300-character user message with an e-mail address and a person's name. Policy sets: rule-based
(custom words, PROFANITY, regex PII types and a custom regex), NER (NAME/ADDRESS), topics (four
denied topics), content (all six filters at HIGH), everything together. Converse generates 16
tokens at temperature 0; the guarded call checks the input before the model and the output after.
Medians of per-request latency; the machine is shared, so compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from typing import Any

from _server import outcrop
from request_overhead import clients

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TEXT = (
    "Hi, this is Daniel Okafor from team {n}. Please e-mail the summary of planning meeting {n} to "
    "daniel.okafor@example.com and tell me which three action items are still open, who owns "
    "each one, and whether the budget review moved to Thursday. Keep it short, please (ticket {n})."
)
ADJECTIVES = ("a lonely", "a brave", "an old", "a tiny", "a clever", "a sleepy", "a noisy", "a kind")
SUBJECTS = ("lighthouse", "baker", "river", "robot", "garden", "train", "owl", "castle", "violin", "ship")
TOPICS = [
    {"name": n, "definition": d, "examples": [e], "type": "DENY"}
    for n, d, e in (
        (
            "Investment advice",
            "Recommendations about buying or selling stocks, funds or crypto.",
            "Should I buy Tesla?",
        ),
        (
            "Medical diagnosis",
            "Telling a person what illness their symptoms indicate.",
            "Is my headache a tumour?",
        ),
        (
            "Legal advice",
            "Advice on how a person should act in their own legal dispute.",
            "Can I sue my landlord?",
        ),
        ("Gambling", "Tips for betting, casinos or sports wagers.", "Best roulette strategy?"),
    )
]
FILTERS = [
    {"type": t, "inputStrength": "HIGH", "outputStrength": "NONE" if t == "PROMPT_ATTACK" else "HIGH"}
    for t in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK")
]
RULES = {
    "wordPolicyConfig": {
        "wordsConfig": [{"text": "cactus"}],
        "managedWordListsConfig": [{"type": "PROFANITY"}],
    },
    "sensitiveInformationPolicyConfig": {
        "piiEntitiesConfig": [
            {"type": t, "action": "ANONYMIZE"} for t in ("EMAIL", "PHONE", "CREDIT_DEBIT_CARD_NUMBER")
        ],
        "regexesConfig": [{"name": "ticket", "pattern": r"TCK-\d{6}", "action": "ANONYMIZE"}],
    },
}
SETS: dict[str, dict[str, Any]] = {
    "rules (words, regex PII)": RULES,
    "NER (NAME, ADDRESS)": {
        "sensitiveInformationPolicyConfig": {
            "piiEntitiesConfig": [{"type": t, "action": "ANONYMIZE"} for t in ("NAME", "ADDRESS")]
        }
    },
    "topics (4)": {"topicPolicyConfig": {"topicsConfig": TOPICS}},
    "content filters (6)": {"contentPolicyConfig": {"filtersConfig": FILTERS}},
}
SETS["all of the above"] = {
    **SETS["topics (4)"],
    **SETS["content filters (6)"],
    "wordPolicyConfig": RULES["wordPolicyConfig"],
    "sensitiveInformationPolicyConfig": {
        **RULES["sensitiveInformationPolicyConfig"],
        "piiEntitiesConfig": [
            *RULES["sensitiveInformationPolicyConfig"]["piiEntitiesConfig"],
            {"type": "NAME", "action": "ANONYMIZE"},
            {"type": "ADDRESS", "action": "ANONYMIZE"},
        ],
    },
}


def median_ms(call: Any, n: int) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with outcrop(args.threads) as served:
        runtime, control = clients(served.url)
        ids = {}
        for name, policies in SETS.items():
            ids[name] = control.create_guardrail(
                name=f"bench-{len(ids)}", blockedInputMessaging="no", blockedOutputsMessaging="no", **policies
            )["guardrailId"]
        for gid in ids.values():  # detectors load in the background: wait as a client would
            while control.get_guardrail(guardrailIdentifier=gid)["status"] != "READY":
                time.sleep(0.1)
        serial = itertools.count()

        def content() -> list[dict[str, Any]]:
            """The text with a new number in every sentence each time, so no detector's cache (nor
            the embedding model's, which keeps vectors per sentence) answers."""
            return [{"text": {"text": TEXT.format(n=next(serial))}}]

        print(f"ApplyGuardrail, INPUT, ~{len(TEXT)} characters, {args.requests} requests (median ms)")
        for name, gid in ids.items():
            ms = median_ms(
                lambda gid=gid: runtime.apply_guardrail(
                    guardrailIdentifier=gid, guardrailVersion="DRAFT", source="INPUT", content=content()
                ),
                args.requests,
            )
            print(f"  {name:<28}{ms:>8.1f}")
        inference = {"maxTokens": 16, "temperature": 0}

        def converse(gid: str | None) -> None:
            extra = (
                {"guardrailConfig": {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT"}} if gid else {}
            )
            messages = [{"role": "user", "content": [{"text": content()[0]["text"]["text"]}]}]
            runtime.converse(modelId=MODEL, messages=messages, inferenceConfig=inference, **extra)

        plain = median_ms(lambda: converse(None), args.requests)
        guarded = median_ms(lambda: converse(ids["all of the above"]), args.requests)
        print(f"Converse, 16 tokens, {args.requests} requests (median ms)")
        print(f"  {'no guardrail':<28}{plain:>8.1f}")
        print(
            f"  {'all policies':<28}{guarded:>8.1f}   ratio {guarded / plain:.2f}, +{guarded - plain:.1f} ms"
        )

        # A new story each time: the embedding model keeps vectors of texts it has seen, and the
        # same answer again would be checked from that cache.
        subjects = (f"{a} {b}" for b in SUBJECTS for a in ADJECTIVES)

        def stream(gid: str | None, mode: str = "sync") -> float:
            """Tokens/s streaming 200 tokens (output checked in batches while the model runs)."""
            config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "streamProcessingMode": mode}
            t = time.perf_counter()
            out = runtime.converse_stream(
                modelId=MODEL,
                messages=[
                    {"role": "user", "content": [{"text": f"Write a long story about {next(subjects)}."}]}
                ],
                inferenceConfig={"maxTokens": 200, "temperature": 0},
                **({"guardrailConfig": config} if gid else {}),
            )
            tokens = next(e["metadata"]["usage"]["outputTokens"] for e in out["stream"] if "metadata" in e)
            return float(tokens) / (time.perf_counter() - t)

        runs = max(3, args.requests // 5)
        plain_rate = statistics.median(stream(None) for _ in range(runs))
        sync_rate = statistics.median(stream(ids["all of the above"]) for _ in range(runs))
        async_rate = statistics.median(stream(ids["all of the above"], "async") for _ in range(runs))
        print(f"ConverseStream, up to 200 tokens, {runs} runs (median tokens/s)")
        print(f"  {'no guardrail':<28}{plain_rate:>8.1f}")
        print(f"  {'all policies, sync':<28}{sync_rate:>8.1f}   ratio {sync_rate / plain_rate:.2f}")
        print(f"  {'all policies, async':<28}{async_rate:>8.1f}   ratio {async_rate / plain_rate:.2f}")


if __name__ == "__main__":
    main()
