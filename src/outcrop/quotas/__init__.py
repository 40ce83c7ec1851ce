"""Rate quotas like Bedrock's: requests and tokens per minute, tokens per day (docs/quotas.md)."""
