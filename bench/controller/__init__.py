"""bench/controller: the operator under a burst of TranscriptionJobs against the test Kubernetes API."""
