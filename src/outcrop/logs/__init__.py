"""Model invocation logging: Bedrock's log records, delivered to S3 and to a local CloudWatch sink."""
