"""The words every part uses for a job's life and where it runs: one definition, imported by the CRD model,
the Registry's schemas, models and migrations, the controller and the ASR service."""

from __future__ import annotations

from typing import Final, Literal, get_args

Phase = Literal["Pending", "Scheduling", "Running", "Succeeded", "Failed", "Cancelled"]
PHASES: Final[tuple[Phase, ...]] = get_args(Phase)
TERMINAL_PHASES: Final[frozenset[Phase]] = frozenset({"Succeeded", "Failed", "Cancelled"})

Device = Literal["gpu", "cpu"]
"""Where work ran or runs: a CPU, or an NVIDIA GPU (CUDA)."""
DEVICES: Final[tuple[Device, ...]] = get_args(Device)

DeviceChoice = Literal["auto", "gpu", "cpu"]
"""What a user asks for: `auto` prefers a GPU and falls back to CPU; `gpu` waits for one; `cpu`."""
DEVICE_CHOICES: Final[tuple[DeviceChoice, ...]] = get_args(DeviceChoice)


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's condition that `column` holds one of `values` (the migrations' spelling)."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"
