"""Every language, offline: the bundled multilingual model measured on an evaluation set made here."""
