"""Order and Idempotency-Key repositories on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, case, func, select, tuple_

from minimart.adapters.sqlalchemy.repositories import Repository, insert_or_skip
from minimart.adapters.sqlalchemy.tables import (
    idempotency_keys,
    order_lines,
    orders,
    payment_events,
)
from minimart.domain.money import Money
from minimart.domain.orders import (
    ClaimedKey,
    Fulfilment,
    FulfilmentType,
    Order,
    OrderLine,
    OrderQuery,
    OrderStatus,
    Payment,
    PeriodTotals,
)
from minimart.domain.payments import PaymentEvent, PaymentStatus
from minimart.domain.pricing import Totals

# Built once, values bound per call (see repositories.py).
ORDER_INSERT = orders.insert()
ORDER_LINES_INSERT = order_lines.insert()
TRANSITION = (orders.update()
              .where(orders.c.id == bindparam("order_id"), orders.c.status == bindparam("source"))
              .values(status=bindparam("target"), updated_at=bindparam("at")))
SET_PAYMENT = (orders.update().where(orders.c.id == bindparam("order_id"))
               .values(updated_at=bindparam("at"),
                       **{column: bindparam(column) for column in (
                           "payment_provider", "payment_status", "payment_intent_id",
                           "payment_client_secret", "amount_captured", "amount_refunded")}))


def _payment_values(payment: Payment) -> dict[str, Any]:
    return {"payment_provider": payment.provider, "payment_status": payment.status.value,
            "payment_intent_id": payment.payment_intent_id,
            "payment_client_secret": payment.client_secret,
            "amount_captured": payment.captured, "amount_refunded": payment.refunded}


def _order_from_rows(row: Row[Any], lines: Sequence[Row[Any]]) -> Order:
    def money(amount: int) -> Money:
        return Money(amount, row.currency)

    return Order(
        id=row.id, customer_id=row.customer_id, status=OrderStatus(row.status),
        lines=tuple(OrderLine(item_id=line.item_id, sku=line.sku, name=line.name,
                              unit_price=money(line.unit_price), quantity=line.quantity)
                    for line in lines),
        totals=Totals(subtotal=money(row.subtotal), tax=money(row.tax),
                      delivery_fee=money(row.delivery_fee), tip=money(row.tip),
                      total=money(row.total)),
        fulfilment=Fulfilment(FulfilmentType(row.fulfilment_type), row.delivery_address),
        note=row.note,
        payment=Payment(provider=row.payment_provider,
                        status=PaymentStatus(row.payment_status),
                        payment_intent_id=row.payment_intent_id,
                        client_secret=row.payment_client_secret,
                        captured=row.amount_captured, refunded=row.amount_refunded),
        created_at=row.created_at, updated_at=row.updated_at)


class SqlAlchemyOrderRepository(Repository):
    def add(self, order: Order) -> None:
        totals = order.totals
        self._write(ORDER_INSERT, {
            "id": order.id, "customer_id": order.customer_id, "status": order.status.value,
            "currency": order.currency, "subtotal": totals.subtotal.amount,
            "tax": totals.tax.amount, "delivery_fee": totals.delivery_fee.amount,
            "tip": totals.tip.amount, "total": totals.total.amount,
            "fulfilment_type": order.fulfilment.type.value,
            "delivery_address": order.fulfilment.address, "note": order.note,
            "created_at": order.created_at, "updated_at": order.updated_at,
            **_payment_values(order.payment)})
        self._write(ORDER_LINES_INSERT, [
            {"order_id": order.id, "position": position, "item_id": line.item_id,
             "sku": line.sku, "name": line.name, "unit_price": line.unit_price.amount,
             "quantity": line.quantity}
            for position, line in enumerate(order.lines)])

    def get(self, order_id: str) -> Order | None:
        found = self._with_lines(select(orders).where(orders.c.id == order_id))
        return found[0] if found else None

    def list(self, query: OrderQuery) -> Sequence[Order]:
        statement = select(orders)
        if query.customer_id is not None:
            statement = statement.where(orders.c.customer_id == query.customer_id)
        if query.status is not None:
            statement = statement.where(orders.c.status == query.status.value)
        if query.after is not None:
            mark = tuple_(bindparam(None, query.after.value, type_=orders.c.created_at.type),
                          bindparam(None, query.after.id, type_=orders.c.id.type))
            statement = statement.where(tuple_(orders.c.created_at, orders.c.id) < mark)
        statement = statement.order_by(orders.c.created_at.desc(), orders.c.id.desc())
        return self._with_lines(statement.limit(query.limit))

    def _with_lines(self, statement: Any) -> list[Order]:
        rows = self._session.execute(statement).all()
        if not rows:
            return []
        lines: dict[str, list[Row[Any]]] = {row.id: [] for row in rows}
        for line in self._session.execute(
                select(order_lines).where(order_lines.c.order_id.in_(lines))
                .order_by(order_lines.c.order_id, order_lines.c.position)):
            lines[line.order_id].append(line)
        return [_order_from_rows(row, lines[row.id]) for row in rows]

    def transition(self, order_id: str, source: OrderStatus, target: OrderStatus,
                   at: datetime) -> bool:
        result = self._write(TRANSITION, {"order_id": order_id, "source": source.value,
                                          "target": target.value, "at": at})
        return result.rowcount == 1

    def set_payment(self, order_id: str, payment: Payment, at: datetime) -> None:
        self._write(SET_PAYMENT, {"order_id": order_id, "at": at, **_payment_values(payment)})

    def pending_before(self, cutoff: datetime, limit: int) -> list[str]:
        statement = (select(orders.c.id)
                     .where(orders.c.status == OrderStatus.PENDING_PAYMENT.value,
                            orders.c.created_at < cutoff)
                     .order_by(orders.c.created_at).limit(limit))
        return list(self._session.execute(statement).scalars())


    def get_by_payment_intent(self, payment_intent_id: str) -> Order | None:
        found = self._with_lines(select(orders)
                                 .where(orders.c.payment_intent_id == payment_intent_id))
        return found[0] if found else None

    def owing_refund(self, limit: int) -> list[str]:
        statement = (select(orders.c.id)
                     .where(orders.c.status == OrderStatus.CANCELLED.value,
                            orders.c.amount_captured > orders.c.amount_refunded)
                     .order_by(orders.c.updated_at).limit(limit))
        return list(self._session.execute(statement).scalars())


    def totals_by_period(self, boundaries: Sequence[datetime]) -> list[PeriodTotals]:
        """One grouped query: each order falls in the period of the first boundary after
        its created_at (the periods are computed by the caller, time zones included)."""
        if len(boundaries) < 2:
            return []
        period = case(*[(orders.c.created_at < end, index)
                        for index, end in enumerate(boundaries[1:])])
        not_cancelled = case((orders.c.status != OrderStatus.CANCELLED.value, 1), else_=0)
        statement = (select(period.label("period"), func.sum(not_cancelled).label("orders"),
                            func.sum(orders.c.amount_captured - orders.c.amount_refunded)
                            .label("revenue"))
                     .where(orders.c.created_at >= boundaries[0],
                            orders.c.created_at < boundaries[-1])
                     .group_by(period))
        found = {row.period: row for row in self._session.execute(statement)}
        return [PeriodTotals(orders=int(found[i].orders), revenue=int(found[i].revenue))
                if i in found else PeriodTotals(orders=0, revenue=0)
                for i in range(len(boundaries) - 1)]


class SqlAlchemyPaymentEventLog(Repository):
    def first_delivery(self, event: PaymentEvent, at: datetime) -> bool:
        return insert_or_skip(self._session, payment_events,
                              {"id": event.id, "type": event.type,
                               "payment_intent_id": event.payment_intent_id,
                               "received_at": at}, payment_events.c.id)


class SqlAlchemyIdempotencyKeys(Repository):
    def claim(self, account_id: str, key: str, fingerprint: str, order_id: str,
              at: datetime) -> ClaimedKey | None:
        """INSERT .. ON CONFLICT DO NOTHING: a concurrent claimer blocks on the unique key
        until the first transaction ends, then sees its row (or takes the key if it rolled
        back)."""
        if insert_or_skip(self._session, idempotency_keys,
                          {"account_id": account_id, "key": key, "fingerprint": fingerprint,
                           "order_id": order_id, "created_at": at},
                          idempotency_keys.c.order_id):
            return None
        row = self._session.execute(
            select(idempotency_keys.c.order_id, idempotency_keys.c.fingerprint)
            .where(idempotency_keys.c.account_id == account_id,
                   idempotency_keys.c.key == key)).one()
        return ClaimedKey(order_id=row.order_id, fingerprint=row.fingerprint)

    def forget_before(self, cutoff: datetime) -> int:
        result = self._write(idempotency_keys.delete()
                             .where(idempotency_keys.c.created_at < cutoff))
        return result.rowcount
