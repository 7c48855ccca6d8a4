"""One unit of work in memory."""

from __future__ import annotations

from collections.abc import Callable


class MemoryUnitOfWork:
    """Counts the intermediate commits a service asks for; runs after-commit actions on the
    next commit (call commit() at the end of a test's unit of work)."""

    def __init__(self) -> None:
        self.commits = 0
        self.aborts = 0
        self._after: list[Callable[[], None]] = []

    def commit(self) -> None:
        self.commits += 1
        actions, self._after = self._after, []
        for action in actions:
            action()

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after.append(action)

    def abort(self) -> None:
        """The fakes keep no transactions: nothing to roll back, and the after-commit
        actions of the aborted work are dropped."""
        self.aborts += 1
        self._after = []
