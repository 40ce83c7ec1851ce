"""Prometheus metrics: Bedrock's CloudWatch metrics by their names, and Outcrop's own."""
