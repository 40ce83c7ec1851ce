"""The invocation pipeline: the one path every runtime operation, job and console turn takes.

``Pipeline`` (pipeline.py) runs the steps; ``call.py`` is what goes in and comes out; ``hooks.py``
where access checks, admission (quotas) and completion records (logs, metrics) plug in;
``plan.py`` and ``fit.py`` the one billing and window rule; ``answer.py`` runs the engine with
tools and reasoning; ``guard.py`` the guardrail steps; ``embed.py`` the embedding models' step.
"""

from .call import Answered, Invocation, Streamed, StreamEvent
from .hooks import AccessRequest, AdmissionRequest, Hooks
from .pipeline import Pipeline
from .record import InvocationRecord

__all__ = [
    "AccessRequest",
    "AdmissionRequest",
    "Answered",
    "Hooks",
    "Invocation",
    "InvocationRecord",
    "Pipeline",
    "StreamEvent",
    "Streamed",
]
