"""The composition root: settings -> adapters -> services. Nothing else picks an adapter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import transaction
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from minimart.adapters.clock import SystemClock
from minimart.adapters.images import LocalDirectoryImageStore, PillowImageProcessor
from minimart.adapters.memory import MemoryPaymentGateway
from minimart.adapters.one_time_passwords import PyotpOneTimePasswords
from minimart.adapters.passwords import Argon2PasswordHasher
from minimart.adapters.sqlalchemy.database import make_engine, make_session_factory, tm_session
from minimart.adapters.sqlalchemy.orders import (
    SqlAlchemyIdempotencyKeys,
    SqlAlchemyOrderRepository,
    SqlAlchemyPaymentEventLog,
)
from minimart.adapters.sqlalchemy.repositories import (
    SqlAlchemyAccountRepository,
    SqlAlchemyAuditLog,
    SqlAlchemyCategoryRepository,
    SqlAlchemyItemRepository,
    SqlAlchemyLoginThrottle,
    SqlAlchemyStoreSettingsRepository,
)
from minimart.adapters.sqlalchemy.unit_of_work import TransactionUnitOfWork
from minimart.adapters.stripe_gateway import StripePaymentGateway, StripeWebhookVerifier
from minimart.domain.accounts import AccountService, LoginPolicy
from minimart.domain.audit import AuditService
from minimart.domain.catalog import CatalogService
from minimart.domain.catalog_transfer import CatalogTransfer
from minimart.domain.categories import CategoryService
from minimart.domain.orders import OrderService
from minimart.domain.payment_customers import PaymentCustomers
from minimart.domain.payment_service import PaymentService
from minimart.domain.ports import Clock, PasswordHasher, PaymentGateway
from minimart.domain.store import StoreService, StoreSettings
from minimart.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The services one unit of work (a request, a CLI command) talks to."""

    catalog: CatalogService
    categories: CategoryService
    store: StoreService
    transfer: CatalogTransfer
    audit: AuditService
    accounts: AccountService
    orders: OrderService
    payments: PaymentService


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

    def session(self, manager: transaction.TransactionManager) -> Session:
        return tm_session(self.session_factory, manager)

    def services(self, session: Session, manager: transaction.TransactionManager) -> Services:
        audit = SqlAlchemyAuditLog(session)
        items = SqlAlchemyItemRepository(session, self.settings.currency)
        categories = SqlAlchemyCategoryRepository(session)
        accounts = SqlAlchemyAccountRepository(session)
        orders = SqlAlchemyOrderRepository(session)
        uow = TransactionUnitOfWork(manager)
        customers = PaymentCustomers(accounts, self.payments, uow)
        store = StoreService(SqlAlchemyStoreSettingsRepository(session, self.settings.currency),
                             self.store_defaults, audit, self.clock)
        order_service = OrderService(
            orders=orders, items=items, idempotency=SqlAlchemyIdempotencyKeys(session),
            payments=self.payments, customers=customers, audit=audit, uow=uow,
            clock=self.clock, store=store,
            ttl=timedelta(minutes=self.settings.order_ttl_minutes))
        catalog = CatalogService(items, categories, audit, self.clock, self.settings.currency,
                                 images=self.images, processor=self.image_processor, uow=uow)
        category_service = CategoryService(categories, audit, self.clock)
        return Services(
            catalog=catalog,
            categories=category_service,
            transfer=CatalogTransfer(catalog, category_service),
            store=store,
            accounts=AccountService(accounts, self.hasher, audit, self.clock,
                                    throttle=SqlAlchemyLoginThrottle(session), otp=self.otp,
                                    uow=uow, policy=self.login_policy),
            audit=AuditService(audit),
            orders=order_service,
            payments=PaymentService(
                orders=orders, order_service=order_service, customers=customers,
                payments=self.payments, verifier=self.webhooks,
                events=SqlAlchemyPaymentEventLog(session), uow=uow, clock=self.clock),
        )
