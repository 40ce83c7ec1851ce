"""OpenTelemetry traces of invocations (docs/observability.md)."""
