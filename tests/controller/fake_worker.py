"""A stand-in for `python -m asr.worker` in operator tests: the same arguments, summary and exit codes (0 done,
2 bad input, 75 transient), decided by the source URL, without a model or a Registry."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    url = argv[argv.index("--url") + 1] if "--url" in argv else ""
    device = argv[argv.index("--device") + 1]
    job_id = argv[argv.index("--job-id") + 1]
    if "slow" in url:
        time.sleep(120)  # long enough to be deleted while it runs
    if "five-seconds" in url:
        time.sleep(5)  # long enough to restart the operator while it runs
    # Not the pod's own temp dir (the kubelet gives each pod a fresh one): state that outlives an attempt.
    marker = Path("/tmp") / f"dhg-fake-worker-{job_id}"
    if "fails-once" in url:
        if marker.exists():
            marker.unlink()  # the retry: succeed, and leave nothing behind
        else:
            marker.touch()
            url = "flaky"
    if "bad" in url:
        code, summary = 2, {"status": "Failed", "reason": "BadInput", "message": "the file is not audio"}
    elif "flaky" in url:
        code, summary = 75, {"status": "Failed", "reason": "Transient", "message": "the Registry is unreachable"}
    else:
        code, summary = (
            0,
            {
                "status": "Succeeded",
                "jobId": job_id,
                "transcriptId": "7d1f9c2e-0000-4000-8000-00000000000a",
                "audioSeconds": 61.5,
                "processingSeconds": 4.1,
                "realTimeFactor": 15.0,
                "device": "cpu" if device == "cpu" else "gpu",
            },
        )
    line = json.dumps(summary)
    print(line)
    with open(os.environ["DHG_ASR_TERMINATION_LOG"], "w") as log:
        log.write(line)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
