"""The composition root: settings -> adapters -> services. Nothing else picks an adapter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import transaction
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from minimart.adapters.clock import SystemClock
from minimart.adapters.memory import MemoryPaymentGateway
from minimart.adapters.passwords import Argon2PasswordHasher
from minimart.adapters.sqlalchemy.database import make_engine, make_session_factory, tm_session
from minimart.adapters.sqlalchemy.orders import (
    SqlAlchemyIdempotencyKeys,
    SqlAlchemyOrderRepository,
)
from minimart.adapters.sqlalchemy.repositories import (
    SqlAlchemyAccountRepository,
    SqlAlchemyAuditLog,
    SqlAlchemyItemRepository,
)
from minimart.adapters.sqlalchemy.unit_of_work import TransactionUnitOfWork
from minimart.domain.accounts import AccountService
from minimart.domain.catalog import CatalogService
from minimart.domain.orders import OrderService
from minimart.domain.ports import Clock, PasswordHasher, PaymentGateway
from minimart.domain.pricing import Pricing
from minimart.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The services one unit of work (a request, a CLI command) talks to."""

    catalog: CatalogService
    accounts: AccountService
    orders: OrderService


class Container:
    """Process-wide adapters, built once from the settings and kept on the registry."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.session_factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.clock: Clock = SystemClock()
        self.hasher: PasswordHasher = Argon2PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism)
        self.payments: PaymentGateway = self._payment_gateway(settings)
        self.pricing = Pricing(currency=settings.currency, tax_rate_bps=settings.tax_rate_bps,
                               delivery_fee=settings.delivery_fee)

    @staticmethod
    def _payment_gateway(settings: Settings) -> PaymentGateway:
        log.warning("payments are SIMULATED in memory (minimart.payments = memory): "
                    "no card is charged")
        return MemoryPaymentGateway()

    def session(self, manager: transaction.TransactionManager) -> Session:
        return tm_session(self.session_factory, manager)

    def services(self, session: Session, manager: transaction.TransactionManager) -> Services:
        audit = SqlAlchemyAuditLog(session)
        items = SqlAlchemyItemRepository(session, self.settings.currency)
        return Services(
            catalog=CatalogService(items, audit, self.clock, self.settings.currency),
            accounts=AccountService(SqlAlchemyAccountRepository(session), self.hasher, audit,
                                    self.clock),
            orders=OrderService(
                orders=SqlAlchemyOrderRepository(session), items=items,
                idempotency=SqlAlchemyIdempotencyKeys(session), payments=self.payments,
                audit=audit, uow=TransactionUnitOfWork(manager), clock=self.clock,
                pricing=self.pricing, ttl=timedelta(minutes=self.settings.order_ttl_minutes)),
        )
