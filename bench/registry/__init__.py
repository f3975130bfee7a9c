"""Load benchmark of the Registry: transcript writes and reads, and semantic search at 100k segments."""
