"""The DHG Registry: system of record for media assets, transcripts, jobs and the audit log."""
