"""The store's settings on SQLAlchemy Core: one row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from minimart.adapters.sqlalchemy.base import Repository, insert_or_skip
from minimart.adapters.sqlalchemy.tables import store_settings
from minimart.domain.store import StoreSettings

STORE_SETTINGS = select(store_settings)


class SqlAlchemyStoreSettingsRepository(Repository):
    """One row (id = 1); the currency is the ini's and is not stored."""

    def __init__(self, session: Session, currency: str) -> None:
        super().__init__(session)
        self._currency = currency

    def get(self) -> StoreSettings | None:
        row = self._session.execute(STORE_SETTINGS).first()
        if row is None:
            return None
        hours = {day: [(start, end) for start, end in spans]
                 for day, spans in row.opening_hours.items()}
        return StoreSettings(name=row.name, currency=self._currency,
                             tax_rate_bps=row.tax_rate_bps, delivery_fee=row.delivery_fee,
                             minimum_order=row.minimum_order, open=row.open,
                             opening_hours=hours, time_zone=row.time_zone)

    def save(self, settings: StoreSettings, at: datetime) -> None:
        values = {**settings.fields(), "updated_at": at}
        if not insert_or_skip(self._session, store_settings, {"id": 1, **values},
                              store_settings.c.id):
            self._write(store_settings.update().where(store_settings.c.id == 1)
                        .values(**values))
