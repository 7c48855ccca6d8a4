"""The UnitOfWork port on the transaction manager that pyramid_tm (or the CLI) runs."""

from __future__ import annotations

from collections.abc import Callable

import transaction


class TransactionUnitOfWork:
    def __init__(self, manager: transaction.TransactionManager) -> None:
        self._manager = manager

    def commit(self) -> None:
        """Commit the work so far and begin the next transaction: `tm.commit(); tm.begin()`."""
        self._manager.commit()
        self._manager.begin()

    def abort(self) -> None:
        """Roll back the work since the last commit (a failed statement leaves PostgreSQL's
        transaction unusable) and begin the next transaction."""
        self._manager.abort()
        self._manager.begin()

    def after_commit(self, action: Callable[[], None]) -> None:
        def run_if_committed(committed: bool) -> None:
            if committed:
                action()

        self._manager.get().addAfterCommitHook(run_if_committed)
