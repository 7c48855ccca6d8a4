"""Test doubles shared by the unit tests of the order and payment services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.unit_of_work import MemoryUnitOfWork


class RecordingUnitOfWork(MemoryUnitOfWork):
    """Counts commits and remembers what each one made durable."""

    def __init__(self, snapshot: Callable[[], Any]) -> None:
        super().__init__()
        self._snapshot = snapshot
        self.snapshots: list[Any] = []

    def commit(self) -> None:
        super().commit()
        self.snapshots.append(self._snapshot())
