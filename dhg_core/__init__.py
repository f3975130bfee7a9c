"""What every service shares: JSON logs, problem+json errors, the request context, the job vocabulary (phases,
devices), transcript formats and the worker's contract with the controller. It imports no service."""
