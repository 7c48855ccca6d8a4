"""Orders with their refunds, and the Idempotency-Keys that answer a repeated placement, on
SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, func, literal, or_, select, tuple_

from minimart.adapters.sqlalchemy.base import Repository, insert_or_skip
from minimart.adapters.sqlalchemy.tables import (
    accounts,
    idempotency_keys,
    order_lines,
    orders,
    refunds,
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
    PendingHoldings,
    PeriodTotals,
    Refund,
    RefundState,
)
from minimart.domain.payments import PaymentStatus
from minimart.domain.pricing import Totals

# Built once, values bound per call (see base.py).
# FOR NO KEY UPDATE: it queues the customer's own orders without blocking the foreign-key
# checks (KEY SHARE) of rows that name the account.
LOCK_CUSTOMER = (select(accounts.c.id).where(accounts.c.id == bindparam("customer_id"))
                 .with_for_update(key_share=True))
PENDING_UNITS = (select(order_lines.c.item_id, order_lines.c.order_id, order_lines.c.quantity)
                 .join(orders, orders.c.id == order_lines.c.order_id)
                 .where(orders.c.customer_id == bindparam("customer_id"),
                        orders.c.status == OrderStatus.PENDING_PAYMENT.value))
ORDER_INSERT = orders.insert()
ORDER_LINES_INSERT = order_lines.insert()
TRANSITION = (orders.update()
              .where(orders.c.id == bindparam("order_id"), orders.c.status == bindparam("source"))
              .values(status=bindparam("target"), updated_at=bindparam("at")))
# The refund amounts are not among them: only the guarded refund statements below write them.
SET_PAYMENT_COLUMNS = ("payment_provider", "payment_status", "payment_intent_id",
                       "payment_client_secret", "amount_captured")
SET_PAYMENT = (orders.update().where(orders.c.id == bindparam("order_id"))
               .values(updated_at=bindparam("at"),
                       **{column: bindparam(column) for column in SET_PAYMENT_COLUMNS}))

# Refunds. Each is one guarded statement, so PostgreSQL's row lock orders racing writers
# and re-checks the guard on the row the first one committed.
REFUND_INSERT = refunds.insert()
_claim = bindparam("amount", type_=orders.c.amount_captured.type)
CLAIM_REFUND = (orders.update()
                .where(orders.c.id == bindparam("order_id"),
                       orders.c.status.in_(bindparam("statuses", expanding=True)),
                       orders.c.amount_refund_claimed + _claim <= orders.c.amount_captured)
                .values(amount_refund_claimed=orders.c.amount_refund_claimed + _claim))
RELEASE_REFUND = (refunds.update()
                  .where(refunds.c.id == bindparam("refund_id"),
                         refunds.c.state == RefundState.SENDING.value)
                  .values(state=RefundState.CLAIMED.value))
REFUND_ORDER = select(refunds.c.order_id).where(refunds.c.id == bindparam("refund_id"))
LOCK_ORDER = select(orders.c.id).where(orders.c.id == bindparam("order_id")).with_for_update()
MARK_SENT = (refunds.update()
             .where(refunds.c.id == bindparam("refund_id"),
                    refunds.c.state == RefundState.SENDING.value)
             .values(state=RefundState.SENT.value, sent_at=bindparam("at"))
             .returning(refunds.c.order_id, refunds.c.amount))
_refunded = orders.c.amount_refunded + bindparam("amount", type_=orders.c.amount_refunded.type)
ADD_REFUNDED = (orders.update().where(orders.c.id == bindparam("order_id"))
                .values(amount_refunded=_refunded, updated_at=bindparam("at"),
                        payment_status=case(
                            (_refunded >= orders.c.amount_captured,
                             literal(PaymentStatus.REFUNDED.value)),
                            else_=orders.c.payment_status))
                .returning(orders.c.amount_refunded))
_total = bindparam("reported_total", type_=orders.c.amount_refunded.type)
_whole = _total >= orders.c.amount_captured
REPORT_REFUNDED = (orders.update()
                   .where(orders.c.id == bindparam("order_id"),
                          or_(orders.c.amount_refund_claimed < _total,
                              and_(_whole, orders.c.amount_refunded < orders.c.amount_captured)))
                   .values(amount_refunded=case(
                               (_whole, orders.c.amount_captured),
                               else_=orders.c.amount_refunded + _total
                               - orders.c.amount_refund_claimed),
                           amount_refund_claimed=case((_whole, orders.c.amount_captured),
                                                      else_=_total),
                           payment_status=case((_whole, literal(PaymentStatus.REFUNDED.value)),
                                               else_=orders.c.payment_status),
                           updated_at=bindparam("at"))
                   .returning(orders.c.amount_refunded, orders.c.amount_captured))
VOID_UNSENT = (refunds.update()
               .where(refunds.c.order_id == bindparam("of_order"),
                      refunds.c.state.in_([RefundState.SENDING.value,
                                           RefundState.CLAIMED.value]))
               .values(state=RefundState.VOID.value))


def _takeable(stale_before: datetime | None) -> Any:
    """CLAIMED, or with stale_before, SENDING since before then (its sender died)."""
    claimed = refunds.c.state == RefundState.CLAIMED.value
    if stale_before is None:
        return claimed
    return or_(claimed, and_(refunds.c.state == RefundState.SENDING.value,
                             refunds.c.attempted_at < stale_before))


def _refund_from_row(row: Row[Any]) -> Refund:
    return Refund(id=row.id, order_id=row.order_id, amount=row.amount,
                  state=RefundState(row.state), created_at=row.created_at,
                  attempted_at=row.attempted_at, sent_at=row.sent_at)


def _payment_values(payment: Payment) -> dict[str, Any]:
    return {"payment_provider": payment.provider, "payment_status": payment.status.value,
            "payment_intent_id": payment.payment_intent_id,
            "payment_client_secret": payment.client_secret,
            "amount_captured": payment.captured}


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
                        captured=row.amount_captured, refunded=row.amount_refunded,
                        refund_claimed=row.amount_refund_claimed),
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
            **_payment_values(order.payment), "amount_refunded": order.payment.refunded,
            # money already returned was claimed, whatever the order says
            "amount_refund_claimed": max(order.payment.refund_claimed,
                                         order.payment.refunded)})
        self._write(ORDER_LINES_INSERT, [
            {"order_id": order.id, "position": position, "item_id": line.item_id,
             "sku": line.sku, "name": line.name, "unit_price": line.unit_price.amount,
             "quantity": line.quantity}
            for position, line in enumerate(order.lines)])

    def get(self, order_id: str) -> Order | None:
        found = self._with_lines(select(orders).where(orders.c.id == order_id))
        return found[0] if found else None

    def find(self, query: OrderQuery) -> Sequence[Order]:
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

    def pending_holdings(self, customer_id: str) -> PendingHoldings:
        parameters = {"customer_id": customer_id}
        self._session.execute(LOCK_CUSTOMER, parameters)
        units: dict[str, int] = {}
        pending: set[str] = set()
        for item_id, order_id, quantity in self._session.execute(PENDING_UNITS, parameters):
            units[item_id] = units.get(item_id, 0) + quantity
            pending.add(order_id)
        return PendingHoldings(len(pending), units)

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
                            orders.c.amount_captured > orders.c.amount_refund_claimed)
                     .order_by(orders.c.updated_at).limit(limit))
        return list(self._session.execute(statement).scalars())

    def claim_refund(self, refund: Refund, statuses: frozenset[OrderStatus]) -> bool:
        claimed = self._write(CLAIM_REFUND, {
            "order_id": refund.order_id, "amount": refund.amount,
            "statuses": sorted(status.value for status in statuses)})
        if claimed.rowcount != 1:
            return False
        self._write(REFUND_INSERT, {
            "id": refund.id, "order_id": refund.order_id, "amount": refund.amount,
            "state": refund.state.value, "created_at": refund.created_at,
            "attempted_at": refund.attempted_at, "sent_at": refund.sent_at})
        return True

    def take_refund(self, refund_id: str, at: datetime,
                    stale_before: datetime | None) -> Refund | None:
        row = self._write(refunds.update()
                          .where(refunds.c.id == refund_id, _takeable(stale_before))
                          .values(state=RefundState.SENDING.value, attempted_at=at)
                          .returning(*refunds.c)).first()
        return None if row is None else _refund_from_row(row)

    def release_refund(self, refund_id: str) -> None:
        self._write(RELEASE_REFUND, {"refund_id": refund_id})

    def refund_sent(self, refund_id: str, at: datetime) -> int | None:
        """Locks the order's row before the refund's, as a claim and a report do (a report
        voids refunds after writing the order): no two of them can deadlock."""
        order_id = self._session.execute(REFUND_ORDER, {"refund_id": refund_id}).scalar()
        if order_id is None:
            return None
        self._session.execute(LOCK_ORDER, {"order_id": order_id})
        sent = self._write(MARK_SENT, {"refund_id": refund_id, "at": at}).first()
        if sent is None:
            return None
        return self._write(ADD_REFUNDED, {"order_id": sent.order_id, "amount": sent.amount,
                                          "at": at}).scalar_one()

    def refund_reported(self, order_id: str, refunded_total: int, at: datetime) -> int | None:
        row = self._write(REPORT_REFUNDED, {"order_id": order_id,
                                            "reported_total": refunded_total,
                                            "at": at}).first()
        if row is None:
            return None
        if row.amount_refunded >= row.amount_captured:
            self._write(VOID_UNSENT, {"of_order": order_id})
        return int(row.amount_refunded)

    def unsent_refunds(self, order_id: str) -> list[Refund]:
        return [r for r in self.refunds_of(order_id) if r.state is RefundState.CLAIMED]

    def refunds_to_retry(self, stale_before: datetime, limit: int) -> list[Refund]:
        statement = (select(refunds).where(_takeable(stale_before))
                     .order_by(refunds.c.created_at, refunds.c.id).limit(limit))
        return [_refund_from_row(row) for row in self._session.execute(statement)]

    def refunds_of(self, order_id: str) -> list[Refund]:
        statement = (select(refunds).where(refunds.c.order_id == order_id)
                     .order_by(refunds.c.created_at, refunds.c.id))
        return [_refund_from_row(row) for row in self._session.execute(statement)]

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

    def release(self, account_id: str, key: str, order_id: str) -> None:
        self._write(idempotency_keys.delete().where(
            idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key,
            idempotency_keys.c.order_id == order_id))

    def forget_before(self, cutoff: datetime) -> int:
        result = self._write(idempotency_keys.delete()
                             .where(idempotency_keys.c.created_at < cutoff))
        return result.rowcount
