"""The composition root: settings -> adapters -> services. Nothing else picks an adapter.

The services themselves are put together by `build_services` (domain/services/wiring.py),
the one wiring the tests use too; this module only chooses the real adapters for it and
runs units of work on the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar

import transaction
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from minimart.adapters.clock import SystemClock
from minimart.adapters.images import LocalDirectoryImageStore, PillowImageProcessor
from minimart.adapters.one_time_passwords import PyotpOneTimePasswords
from minimart.adapters.passwords import Argon2PasswordHasher, BoundedPasswordHasher
from minimart.adapters.payment_simulator import MemoryPaymentGateway
from minimart.adapters.sqlalchemy.database import (
    DatabaseLimits,
    make_engine,
    make_session_factory,
    schema_is_current,
    tm_session,
)
from minimart.adapters.sqlalchemy.metrics import SqlAlchemyShopGauges
from minimart.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from minimart.adapters.stripe_gateway import StripePaymentGateway, StripeWebhookVerifier
from minimart.domain.accounts import LoginPolicy, RegistrationPolicy
from minimart.domain.ports.metrics import ShopGauges
from minimart.domain.ports.payments import PaymentGateway
from minimart.domain.services.wiring import Adapters, Policies, Services, build_services
from minimart.domain.store import StoreSettings
from minimart.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def database_limits(settings: Settings) -> DatabaseLimits:
    return DatabaseLimits(
        pool_size=settings.database_pool_size, max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
        lock_timeout=settings.database_lock_timeout_seconds,
        answer_timeout=settings.database_answer_timeout_seconds,
        keepalives_idle=settings.database_keepalives_idle_seconds,
        tcp_user_timeout=settings.database_tcp_user_timeout_seconds,
        prepared_statements=settings.database_prepared_statements)


def adapters(settings: Settings) -> Adapters:
    """The real adapters the settings choose (tests swap some with dataclasses.replace)."""
    return Adapters(
        clock=SystemClock(),
        payments=payment_gateway(settings),
        webhooks=StripeWebhookVerifier(settings.stripe_webhook_secret),
        hasher=BoundedPasswordHasher(
            Argon2PasswordHasher(time_cost=settings.argon2_time_cost,
                                 memory_cost=settings.argon2_memory_cost,
                                 parallelism=settings.argon2_parallelism),
            slots=settings.argon2_max_concurrent,
            wait_seconds=settings.argon2_max_wait_seconds),
        otp=PyotpOneTimePasswords(),
        images=LocalDirectoryImageStore(settings.images_directory),
        image_processor=PillowImageProcessor())


def policies(settings: Settings) -> Policies:
    return Policies(
        store_defaults=StoreSettings(
            name=settings.store_name, currency=settings.currency,
            tax_rate_bps=settings.tax_rate_bps, delivery_fee=settings.delivery_fee),
        login=LoginPolicy(
            max_failures_per_account=settings.login_max_failures_per_account,
            max_failures_per_address=settings.login_max_failures_per_address,
            window=timedelta(minutes=settings.login_window_minutes),
            require_totp_for_staff=settings.require_totp_for_staff),
        registration=RegistrationPolicy(
            max_per_address=settings.registration_max_per_address,
            window=timedelta(minutes=settings.registration_window_minutes)),
        orders=settings.order_limits,
        reconcile_after=timedelta(minutes=settings.reconcile_after_minutes))


def payment_gateway(settings: Settings) -> PaymentGateway:
    if settings.payments == "stripe":
        assert settings.stripe_api_key is not None
        return StripePaymentGateway(
            settings.stripe_api_key, api_base=settings.stripe_api_base,
            timeout_seconds=settings.stripe_timeout_seconds,
            max_network_retries=settings.stripe_max_network_retries)
    log.warning("payments are SIMULATED in memory (minimart.payments = memory): "
                "no card is charged")
    return MemoryPaymentGateway()


class Container:
    """Process-wide adapters, built once from the settings and kept on the registry; units of
    work on the database and the services over them."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.database_limits = database_limits(settings)
        self.engine = engine or make_engine(settings.database_url, self.database_limits)
        self.session_factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.replica_engine = (make_engine(settings.replica_url, self.database_limits)
                               if settings.replica_url else None)
        self.read_sessions: sessionmaker[Session] = make_session_factory(
            (self.replica_engine or self.engine).execution_options(isolation_level="AUTOCOMMIT"))
        self.adapters = adapters(settings)
        self.policies = policies(settings)

    @cached_property
    def readiness_engine(self) -> Engine:
        """What /readyz asks: a fresh connection per probe (NullPool), so a probe proves the
        database takes connections, never queues behind requests for the pool, and gives
        up after `minimart.readiness_timeout_seconds` whatever the database does."""
        if self.engine.dialect.name == "sqlite":
            return self.engine
        bound = self.settings.readiness_timeout_seconds
        limits = replace(self.database_limits, connect_timeout=bound, statement_timeout=bound,
                         lock_timeout=bound, answer_timeout=bound)
        return make_engine(self.engine.url.render_as_string(hide_password=False), limits,
                           poolclass=NullPool)

    @cached_property
    def gauges(self) -> ShopGauges:
        """What /metrics reads: the orders counted in the database, and the pool's use."""
        return SqlAlchemyShopGauges(self.engine)

    def session(self, manager: transaction.TransactionManager) -> Session:
        return tm_session(self.session_factory, manager)

    def unit_of_work(self, manager: transaction.TransactionManager) -> SqlAlchemyUnitOfWork:
        """The repositories of one transaction run by `manager`, on a session joined to it."""
        return SqlAlchemyUnitOfWork(lambda: self.session(manager), manager,
                                    self.settings.currency)

    def services(self, manager: transaction.TransactionManager,
                 finished: Callable[[Callable[[Any], None]], None] | None = None) -> Services:
        """The services of one unit of work. A request passes `finished` (its
        add_finished_callback): its catalog browsing then reads outside the transaction
        (`Services.catalog_reads`), on a session that ends with the request."""
        reads = None
        if finished is not None:
            reads = SqlAlchemyUnitOfWork(self.read_sessions, None, self.settings.currency)
            finished(lambda _: reads.close())
        return build_services(self.unit_of_work(manager), self.adapters, self.policies,
                              reads=reads)

    def in_transaction(self, work: Callable[[Services], T]) -> T:
        """Run work(services) in one transaction of its own, committed when work returns
        and rolled back when it raises: what a CLI command, the bench and tests do."""
        manager = transaction.TransactionManager(explicit=True)
        with manager:
            return work(self.services(manager))

    def close(self) -> None:
        """Close the pooled database connections (a command ends; tests run main in-process)."""
        for engine in (self.engine, self.replica_engine):
            if engine is not None:
                engine.dispose()

    def schema_is_current(self) -> bool:
        """Whether the database answers (within the readiness bound) at the newest schema;
        raises SQLAlchemyError when it does not answer."""
        return schema_is_current(self.readiness_engine)
