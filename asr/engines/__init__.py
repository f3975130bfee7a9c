"""Speech-recognition engines behind one interface (`Engine`): faster-whisper (default) and openai-whisper."""
