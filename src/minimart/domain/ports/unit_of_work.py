"""One transaction: commit, roll back, act after commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class UnitOfWork(Protocol):
    def commit(self) -> None:
        """Commit what is done so far and begin afresh: a deliberate intermediate commit
        before calling a payment provider."""
        ...

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run action once the current transaction has committed (never if it aborts)."""
        ...

    def abort(self) -> None:
        """Roll back what is done since the last commit and begin afresh: after a failure,
        before the service records what it does about it."""
        ...
