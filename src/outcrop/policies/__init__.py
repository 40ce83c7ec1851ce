"""IAM-style identity-based policies: documents in AWS's grammar, evaluated as IAM does (default
deny, an explicit Deny wins), for the identities the configuration names."""
