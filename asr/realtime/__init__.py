"""Live transcription: OpenAI's Realtime API (transcription sessions) over a WebSocket, `/v1/realtime`.

- `protocol`: the events in and out, in OpenAI's GA shape (and its beta's `transcription_session.*`);
- `formats`: the session's audio (PCM at 24 or 16 kHz, G.711 μ-law and A-law) to 16 kHz floats;
- `turns`: server VAD (Silero, as the rest of the stack) with the session's parameters;
- `agreement`: deltas from re-decoding a growing utterance, only what two decodes in a row agree on;
- `session`: one session's state, decodes and limits; the route (`asr/routes/realtime.py`) speaks WebSocket.
"""
