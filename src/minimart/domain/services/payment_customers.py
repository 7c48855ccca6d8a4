"""Each account's customer at the payment provider, created on first need and kept."""

from __future__ import annotations

from minimart.domain.errors import NotFound
from minimart.domain.ports.payments import PaymentGateway
from minimart.domain.ports.unit_of_work import UnitOfWork


class PaymentCustomers:
    def __init__(self, uow: UnitOfWork, payments: PaymentGateway) -> None:
        self._uow = uow
        self._payments = payments

    def ensure(self, account_id: str) -> str:
        """The provider's customer id for the account. Two first requests racing make one
        customer: the provider call carries an idempotency key derived from the account."""
        account = self._uow.accounts.get(account_id)
        if account is None:
            raise NotFound("no such account")
        if account.payment_customer_id is not None:
            return account.payment_customer_id
        self._uow.commit()  # hold no transaction while the provider is called
        customer_id = self._payments.create_customer(
            account_id=account.id, email=account.email,
            idempotency_key=f"account-{account.id}-customer")
        kept = self._uow.accounts.set_payment_customer(account.id, customer_id)
        # Commit at once: setting a unique column locks the account row against the foreign
        # key checks of the account's other orders, and a lock kept while this order goes on
        # to release stock (a declined card) deadlocks with an order holding that stock.
        self._uow.commit()
        return kept
