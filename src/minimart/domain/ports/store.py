"""The store's settings storage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from minimart.domain.store import StoreSettings


class StoreSettingsRepository(Protocol):
    def get(self) -> StoreSettings | None: ...

    def save(self, settings: StoreSettings, at: datetime) -> None: ...
