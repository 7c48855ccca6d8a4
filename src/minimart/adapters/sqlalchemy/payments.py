"""The payment provider's events already applied, on SQLAlchemy Core."""

from __future__ import annotations

from datetime import datetime

from minimart.adapters.sqlalchemy.base import Repository, insert_or_skip
from minimart.adapters.sqlalchemy.tables import payment_events
from minimart.domain.payments import PaymentEvent


class SqlAlchemyPaymentEventLog(Repository):
    def first_delivery(self, event: PaymentEvent, at: datetime) -> bool:
        """INSERT .. ON CONFLICT DO NOTHING on the event id: a concurrent delivery of the
        same event waits for the first transaction to end."""
        return insert_or_skip(self._session, payment_events,
                              {"id": event.id, "type": event.type,
                               "payment_intent_id": event.payment_intent_id,
                               "received_at": at}, payment_events.c.id)
