"""The store's settings in memory."""

from __future__ import annotations

from datetime import datetime

from minimart.domain.store import StoreSettings


class MemoryStoreSettingsRepository:
    def __init__(self) -> None:
        self.saved: StoreSettings | None = None

    def get(self) -> StoreSettings | None:
        return self.saved

    def save(self, settings: StoreSettings, at: datetime) -> None:
        self.saved = settings
