"""`python -m bench.asr`: the ASR service against the raw Whisper libraries, on this machine's CPU."""
