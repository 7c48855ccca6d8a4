"""The composition root: settings -> adapters -> services. Nothing else picks an adapter."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from functools import cached_property

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
    tm_session,
)
from minimart.adapters.sqlalchemy.orders import (
    SqlAlchemyIdempotencyKeys,
    SqlAlchemyOrderRepository,
    SqlAlchemyPaymentEventLog,
)
from minimart.adapters.sqlalchemy.repositories import (
    SqlAlchemyAccountRepository,
    SqlAlchemyAuditLog,
    SqlAlchemyCategoryRepository,
    SqlAlchemyEndedSignIns,
    SqlAlchemyItemRepository,
    SqlAlchemyLoginThrottle,
    SqlAlchemyRegistrationThrottle,
    SqlAlchemyStoreSettingsRepository,
)
from minimart.adapters.sqlalchemy.unit_of_work import TransactionUnitOfWork
from minimart.adapters.stripe_gateway import StripePaymentGateway, StripeWebhookVerifier
from minimart.domain.accounts import LoginPolicy, RegistrationPolicy
from minimart.domain.ports.accounts import PasswordHasher
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.payments import PaymentGateway
from minimart.domain.services.accounts import AccountService
from minimart.domain.services.audit import AuditService
from minimart.domain.services.catalog import CatalogService
from minimart.domain.services.catalog_transfer import CatalogTransfer
from minimart.domain.services.categories import CategoryService
from minimart.domain.services.orders import OrderService
from minimart.domain.services.payment_customers import PaymentCustomers
from minimart.domain.services.payments import PaymentService
from minimart.domain.services.store import StoreService
from minimart.domain.store import StoreSettings
from minimart.settings import Settings

log = logging.getLogger(__name__)


class Services:
    """The services one unit of work (a request, a CLI command) talks to.

    Each is built on first use and shares the unit of work's session and repositories, so a
    request that lists items does not pay for building the payment machinery, nor for a
    session joined to the transaction.
    """

    def __init__(self, container: Container, manager: transaction.TransactionManager) -> None:
        self._c = container
        self._manager = manager

    @cached_property
    def _session(self) -> Session:
        """The unit of work's session, joined to its transaction manager."""
        return self._c.session(self._manager)

    # --- adapters bound to this unit of work -------------------------------
    @cached_property
    def _audit_log(self) -> SqlAlchemyAuditLog:
        return SqlAlchemyAuditLog(self._session)

    @cached_property
    def _items(self) -> SqlAlchemyItemRepository:
        return SqlAlchemyItemRepository(self._session, self._c.settings.currency)

    @cached_property
    def _categories(self) -> SqlAlchemyCategoryRepository:
        return SqlAlchemyCategoryRepository(self._session)

    @cached_property
    def _accounts(self) -> SqlAlchemyAccountRepository:
        return SqlAlchemyAccountRepository(self._session)

    @cached_property
    def _orders(self) -> SqlAlchemyOrderRepository:
        return SqlAlchemyOrderRepository(self._session)

    @cached_property
    def _uow(self) -> TransactionUnitOfWork:
        return TransactionUnitOfWork(self._manager)

    @cached_property
    def _customers(self) -> PaymentCustomers:
        return PaymentCustomers(self._accounts, self._c.payments, self._uow)

    # --- services ------------------------------------------------------------
    @cached_property
    def catalog(self) -> CatalogService:
        c = self._c
        return CatalogService(self._items, self._categories, self._audit_log, c.clock,
                              c.settings.currency, images=c.images,
                              processor=c.image_processor, uow=self._uow)

    @cached_property
    def catalog_reads(self) -> CatalogService:
        """The catalog for read-only browsing, outside the request's transaction.

        Each read is one statement on its own (autocommit), so a page costs one round trip
        instead of BEGIN, SELECT and ROLLBACK; it reads the streaming replica when one is set
        (`minimart.database.replica_url`), where replication lag applies. Nothing that
        writes reads through it.
        """
        c = self._c
        self._read_session = reads = c.read_sessions()
        return CatalogService(
            SqlAlchemyItemRepository(reads, c.settings.currency),
            SqlAlchemyCategoryRepository(reads), SqlAlchemyAuditLog(reads), c.clock,
            c.settings.currency)

    def close(self) -> None:
        """End the unit of work's read session, if it opened one."""
        reads = self.__dict__.pop("_read_session", None)
        if reads is not None:
            reads.close()

    @cached_property
    def categories(self) -> CategoryService:
        return CategoryService(self._categories, self._audit_log, self._c.clock)

    @cached_property
    def transfer(self) -> CatalogTransfer:
        return CatalogTransfer(self.catalog, self.categories)

    @cached_property
    def store(self) -> StoreService:
        c = self._c
        return StoreService(SqlAlchemyStoreSettingsRepository(self._session, c.settings.currency),
                            c.store_defaults, self._audit_log, c.clock)

    @cached_property
    def accounts(self) -> AccountService:
        c = self._c
        return AccountService(self._accounts, c.hasher, self._audit_log, c.clock,
                              throttle=SqlAlchemyLoginThrottle(self._session),
                              registrations=SqlAlchemyRegistrationThrottle(self._session),
                              otp=c.otp, uow=self._uow, policy=c.login_policy,
                              registration_policy=c.registration_policy,
                              ended_sign_ins=SqlAlchemyEndedSignIns(self._session))

    @cached_property
    def audit(self) -> AuditService:
        return AuditService(self._audit_log)

    @cached_property
    def orders(self) -> OrderService:
        c = self._c
        return OrderService(
            orders=self._orders, items=self._items,
            idempotency=SqlAlchemyIdempotencyKeys(self._session), payments=c.payments,
            customers=self._customers, audit=self._audit_log, uow=self._uow, clock=c.clock,
            store=self.store, limits=c.settings.order_limits)

    @cached_property
    def payments(self) -> PaymentService:
        c = self._c
        return PaymentService(
            orders=self._orders, order_service=self.orders, customers=self._customers,
            payments=c.payments, verifier=c.webhooks,
            events=SqlAlchemyPaymentEventLog(self._session), uow=self._uow, clock=c.clock)


def database_limits(settings: Settings) -> DatabaseLimits:
    return DatabaseLimits(
        pool_size=settings.database_pool_size, max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
        lock_timeout=settings.database_lock_timeout_seconds,
        answer_timeout=settings.database_answer_timeout_seconds,
        keepalives_idle=settings.database_keepalives_idle_seconds,
        tcp_user_timeout=settings.database_tcp_user_timeout_seconds)


class Container:
    """Process-wide adapters, built once from the settings and kept on the registry."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.database_limits = database_limits(settings)
        self.engine = engine or make_engine(settings.database_url, self.database_limits)
        self.session_factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.replica_engine = (make_engine(settings.replica_url, self.database_limits)
                               if settings.replica_url else None)
        self.read_sessions: sessionmaker[Session] = make_session_factory(
            (self.replica_engine or self.engine).execution_options(isolation_level="AUTOCOMMIT"))
        self.clock: Clock = SystemClock()
        self.hasher: PasswordHasher = BoundedPasswordHasher(
            Argon2PasswordHasher(time_cost=settings.argon2_time_cost,
                                 memory_cost=settings.argon2_memory_cost,
                                 parallelism=settings.argon2_parallelism),
            slots=settings.argon2_max_concurrent,
            wait_seconds=settings.argon2_max_wait_seconds)
        self.payments: PaymentGateway = self._payment_gateway(settings)
        self.store_defaults = StoreSettings(
            name=settings.store_name, currency=settings.currency,
            tax_rate_bps=settings.tax_rate_bps, delivery_fee=settings.delivery_fee)

        self.webhooks = StripeWebhookVerifier(settings.stripe_webhook_secret)
        self.images = LocalDirectoryImageStore(settings.images_directory)
        self.otp = PyotpOneTimePasswords()
        self.login_policy = LoginPolicy(
            max_failures_per_account=settings.login_max_failures_per_account,
            max_failures_per_address=settings.login_max_failures_per_address,
            window=timedelta(minutes=settings.login_window_minutes),
            require_totp_for_staff=settings.require_totp_for_staff)
        self.registration_policy = RegistrationPolicy(
            max_per_address=settings.registration_max_per_address,
            window=timedelta(minutes=settings.registration_window_minutes))
        self.image_processor = PillowImageProcessor()

    @staticmethod
    def _payment_gateway(settings: Settings) -> PaymentGateway:
        if settings.payments == "stripe":
            assert settings.stripe_api_key is not None
            return StripePaymentGateway(
                settings.stripe_api_key, api_base=settings.stripe_api_base,
                timeout_seconds=settings.stripe_timeout_seconds,
                max_network_retries=settings.stripe_max_network_retries)
        log.warning("payments are SIMULATED in memory (minimart.payments = memory): "
                    "no card is charged")
        return MemoryPaymentGateway()

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

    def session(self, manager: transaction.TransactionManager) -> Session:
        return tm_session(self.session_factory, manager)

    def services(self, manager: transaction.TransactionManager) -> Services:
        return Services(self, manager)
