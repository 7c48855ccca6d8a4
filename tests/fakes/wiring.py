"""The services on fakes, wired by the one `build_services` the app uses: a test swaps
adapters or policies, never re-wires services by hand."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from minimart.adapters.payment_simulator import MemoryPaymentGateway
from minimart.domain.payments import InvalidWebhook, PaymentEvent
from minimart.domain.ports.unit_of_work import UnitOfWork
from minimart.domain.services.wiring import Adapters, Policies, Services, build_services
from minimart.domain.store import StoreSettings
from tests.fakes.accounts import FakeOneTimePasswords
from tests.fakes.catalog import MemoryImageStore
from tests.fakes.common import FixedClock, PlainTextPasswordHasher
from tests.fakes.unit_of_work import MemoryUnitOfWork

CURRENCY = "usd"


class RefusingVerifier:
    """A webhook verifier for services whose tests send no webhooks."""

    def verify(self, payload: bytes, signature: str | None) -> PaymentEvent:
        raise InvalidWebhook("this test sends no webhooks")


def fake_adapters(**swaps: Any) -> Adapters:
    """Every adapter as a fake (or the development simulator); `swaps` replace some."""
    adapters = Adapters(clock=FixedClock(), payments=MemoryPaymentGateway(),
                        webhooks=RefusingVerifier(), hasher=PlainTextPasswordHasher(),
                        otp=FakeOneTimePasswords(), images=MemoryImageStore())
    return replace(adapters, **swaps)


def fake_policies(**swaps: Any) -> Policies:
    return replace(Policies(store_defaults=StoreSettings(name="minimart", currency=CURRENCY)),
                   **swaps)


def fake_services(uow: UnitOfWork | None = None, adapters: Adapters | None = None,
                  policies: Policies | None = None) -> Services:
    """The services over a fresh MemoryUnitOfWork (or `uow`), fake adapters and default
    policies; read the fakes back through `services.uow` and `services.adapters`."""
    if uow is None:
        uow = MemoryUnitOfWork()  # mypy holds every repository fake to its port here
    return build_services(uow, adapters or fake_adapters(), policies or fake_policies())
