"""Work that outlives a request: async invocations and batch inference jobs, run through the one
invocation pipeline, with their input and output in S3 and their state in the store."""
