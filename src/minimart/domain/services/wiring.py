"""The one wiring of the services: `build_services(uow, adapters, policies)`.

The web app, the CLI, the bench and every test call it; they differ only in the unit of
work (a database transaction, or the fakes in tests/) and the adapters they hand in, never
in how the services are put together. Services are built on first use, so a request that
only browses the catalog pays for nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from minimart.domain.accounts import LoginPolicy, RegistrationPolicy
from minimart.domain.orders import DEFAULT_LIMITS, OrderLimits
from minimart.domain.ports.accounts import OneTimePasswords, PasswordHasher
from minimart.domain.ports.catalog import ImageProcessor, ImageStore
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.payments import PaymentGateway, WebhookVerifier
from minimart.domain.ports.unit_of_work import UnitOfWork
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


@dataclass(frozen=True)
class Adapters:
    """What the services need beyond the unit of work: process-wide, built once."""

    clock: Clock
    payments: PaymentGateway
    webhooks: WebhookVerifier
    hasher: PasswordHasher
    otp: OneTimePasswords
    images: ImageStore | None = None  # None: a catalog that takes no pictures
    image_processor: ImageProcessor | None = None


@dataclass(frozen=True)
class Policies:
    """The shop's rules that settings choose: its defaults, sign-in and order limits."""

    store_defaults: StoreSettings
    login: LoginPolicy = field(default_factory=LoginPolicy)
    registration: RegistrationPolicy = field(default_factory=RegistrationPolicy)
    orders: OrderLimits = DEFAULT_LIMITS
    # pending orders older than this are asked about at the provider (reconcile-payments)
    reconcile_after: timedelta = timedelta(minutes=5)


class Services:
    """Every service of one unit of work, each built on first use."""

    def __init__(self, uow: UnitOfWork, adapters: Adapters, policies: Policies,
                 reads: UnitOfWork | None = None) -> None:
        self.uow = uow
        self.adapters = adapters
        self.policies = policies
        self.reads = reads

    @cached_property
    def catalog(self) -> CatalogService:
        a = self.adapters
        return CatalogService(self.uow, a.clock, self.policies.store_defaults.currency,
                              images=a.images, processor=a.image_processor)

    @cached_property
    def catalog_reads(self) -> CatalogService:
        """The catalog for browsing through `reads` when there is one: a unit of work outside
        the request's transaction (one autocommit statement a read, perhaps on a replica
        that lags), so a page costs one round trip. Nothing that writes goes through it."""
        if self.reads is None:
            return self.catalog
        return CatalogService(self.reads, self.adapters.clock,
                              self.policies.store_defaults.currency)

    @cached_property
    def categories(self) -> CategoryService:
        return CategoryService(self.uow, self.adapters.clock)

    @cached_property
    def transfer(self) -> CatalogTransfer:
        return CatalogTransfer(self.catalog, self.categories)

    @cached_property
    def store(self) -> StoreService:
        return StoreService(self.uow, self.policies.store_defaults, self.adapters.clock)

    @cached_property
    def accounts(self) -> AccountService:
        a, p = self.adapters, self.policies
        return AccountService(self.uow, a.hasher, a.clock, a.otp, policy=p.login,
                              registration_policy=p.registration)

    @cached_property
    def audit(self) -> AuditService:
        return AuditService(self.uow)

    @cached_property
    def customers(self) -> PaymentCustomers:
        return PaymentCustomers(self.uow, self.adapters.payments)

    @cached_property
    def orders(self) -> OrderService:
        a = self.adapters
        return OrderService(self.uow, a.payments, self.customers, self.store, a.clock,
                            self.policies.orders)

    @cached_property
    def payments(self) -> PaymentService:
        a = self.adapters
        return PaymentService(self.uow, self.orders, self.customers, a.payments, a.webhooks,
                              a.clock)


def build_services(uow: UnitOfWork, adapters: Adapters, policies: Policies, *,
                   reads: UnitOfWork | None = None) -> Services:
    """The services of one unit of work: a request, a CLI command, a test."""
    return Services(uow, adapters, policies, reads)
