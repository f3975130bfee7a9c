"""Data access: plain async functions over an AsyncSession, keyword-only arguments, no FastAPI."""
