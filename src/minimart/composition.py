"""The composition root: settings -> adapters -> services. Nothing else picks an adapter."""

from __future__ import annotations

from dataclasses import dataclass

import transaction
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from minimart.adapters.clock import SystemClock
from minimart.adapters.passwords import Argon2PasswordHasher
from minimart.adapters.sqlalchemy.database import make_engine, make_session_factory, tm_session
from minimart.adapters.sqlalchemy.repositories import (
    SqlAlchemyAccountRepository,
    SqlAlchemyAuditLog,
    SqlAlchemyItemRepository,
)
from minimart.domain.accounts import AccountService
from minimart.domain.catalog import CatalogService
from minimart.domain.ports import Clock, PasswordHasher
from minimart.settings import Settings


@dataclass
class Services:
    """The services one unit of work (a request, a CLI command) talks to."""

    catalog: CatalogService
    accounts: AccountService


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

    def session(self, manager: transaction.TransactionManager) -> Session:
        return tm_session(self.session_factory, manager)

    def services(self, session: Session) -> Services:
        audit = SqlAlchemyAuditLog(session)
        return Services(
            catalog=CatalogService(SqlAlchemyItemRepository(session, self.settings.currency),
                                   audit, self.clock, self.settings.currency),
            accounts=AccountService(SqlAlchemyAccountRepository(session), self.hasher, audit,
                                    self.clock),
        )
