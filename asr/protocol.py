"""The ASR service's HTTP names that its clients spell too: paths and custom headers, defined once.

Standard library only (nothing at all, in fact): the command line imports this without the service's stack."""

AUDIO_PREFIX = "/v1/audio"
TRANSCRIPTIONS_PATH = f"{AUDIO_PREFIX}/transcriptions"
TRANSLATIONS_PATH = f"{AUDIO_PREFIX}/translations"
LANGUAGE_PATH = f"{AUDIO_PREFIX}/language"
JOB_PATH = f"{AUDIO_PREFIX}/jobs/{{job_id}}"
JOB_RESULT_PATH = f"{JOB_PATH}/result"
MODELS_PATH = "/v1/models"
MODEL_PATH = f"{MODELS_PATH}/{{model}}"

JOB_HEADER = "X-DHG-Job-ID"  # the Registry's idempotency key: sent by clients, echoed by the service
ASSET_HEADER = "X-DHG-Asset-ID"  # the Registry asset the audio is
RESPOND_ASYNC = "respond-async"  # the `Prefer` token (RFC 7240) that asks for a job to poll
