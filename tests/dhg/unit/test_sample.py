from __future__ import annotations

import hashlib
import re

from asr.evaluation import normalise
from dhg.sample import REFERENCE_TEXT, SAMPLE_PATH, sample_job_id


def test_the_bundled_sample_is_a_small_ogg_opus_file() -> None:
    data = SAMPLE_PATH.read_bytes()
    assert data.startswith(b"OggS") and b"OpusHead" in data[:100]
    assert len(data) < 100 * 1024


def test_the_reference_text_is_the_one_the_samples_readme_quotes() -> None:
    readme = (SAMPLE_PATH.parent / "README.md").read_text()
    quoted = " ".join(re.findall(r"^> (.*)$", readme, flags=re.MULTILINE))
    assert normalise(quoted) == normalise(REFERENCE_TEXT)


def test_the_sample_job_id_depends_only_on_the_audio() -> None:
    sha256 = hashlib.sha256(SAMPLE_PATH.read_bytes()).hexdigest()
    assert sample_job_id(sha256) == sample_job_id(sha256)
    assert sample_job_id(sha256) != sample_job_id(hashlib.sha256(b"other audio").hexdigest())
    assert sample_job_id(sha256).version == 5
