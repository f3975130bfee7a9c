"""One hour of audio is decoded as a stream of chunks: peak memory stays far below the whole file's size."""

import json
import subprocess
import sys

import pytest

from asr import audio
from asr.engines.base import SAMPLE_RATE
from asr.errors import AudioTooLong

HOUR = 3600


@pytest.fixture(scope="module")
def hour_of_audio(tmp_path_factory):
    """A 1 h tone that pauses for 0.5 s every 7 s (115 MB of 16-bit WAV in a temp dir), made by ffmpeg."""
    path = tmp_path_factory.mktemp("long") / "hour.wav"
    source = f"sine=frequency=330:sample_rate={SAMPLE_RATE}:duration={HOUR}"
    gate = "volume='if(lt(mod(t,7),0.5),0,1)':eval=frame"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            source,
            "-af",
            gate,
            "-ac",
            "1",
            "-c:a",
            "pcm_s16le",
            str(path),
        ],
        check=True,
        timeout=300,
    )
    return path


DECODE = """
import json, sys, tracemalloc
from asr import audio
from asr.engines.base import SAMPLE_RATE
path, seconds = sys.argv[1], float(sys.argv[2])
tracemalloc.start()
offsets, total = [], 0
for offset, samples in audio.chunks(path, chunk_seconds=120, max_seconds=7200):
    offsets.append(offset)
    total += len(samples)
    if total >= seconds * SAMPLE_RATE:
        break
print(json.dumps({"offsets": offsets, "total": total, "peak": tracemalloc.get_traced_memory()[1]}))
"""


def decode(path, seconds):
    """Decode the first `seconds` of `path` in chunks, in a process of its own so that the traced peak is the
    decoder's alone (in the test process, other tests' threads allocate meanwhile and their memory counts too);
    returns (chunk offsets, samples seen, peak bytes)."""
    result = subprocess.run(
        [sys.executable, "-c", DECODE, str(path), str(seconds)], capture_output=True, text=True, timeout=600, check=True
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return measured["offsets"], measured["total"], measured["peak"]


def test_an_hour_decodes_in_chunks_with_memory_flat_in_its_length(hour_of_audio):
    whole_file_bytes = HOUR * SAMPLE_RATE * 4  # float32: 230 MB
    _, _, peak_ten_minutes = decode(hour_of_audio, 600)
    offsets, total, peak_hour = decode(hour_of_audio, 2 * HOUR)
    assert total / SAMPLE_RATE == pytest.approx(HOUR, abs=0.1)
    assert len(offsets) >= 25 and offsets == sorted(offsets)
    assert all(offsets[i + 1] - offsets[i] <= 140 for i in range(len(offsets) - 1))
    assert peak_hour < 1.25 * peak_ten_minutes, (peak_hour, peak_ten_minutes)
    assert peak_hour < whole_file_bytes / 5, f"peak {peak_hour / 1e6:.0f} MB"


def test_cuts_fall_in_the_pauses(hour_of_audio):
    pieces = audio.chunks(hour_of_audio, chunk_seconds=120, max_seconds=2 * HOUR)
    cuts = [offset for offset, _ in (next(pieces) for _ in range(4))][1:]
    assert all(offset % 7 < 0.6 for offset in cuts), cuts


def test_the_duration_limit_is_enforced_while_decoding(hour_of_audio):
    with pytest.raises(AudioTooLong):
        for _ in audio.chunks(hour_of_audio, chunk_seconds=60, max_seconds=600):
            pass
