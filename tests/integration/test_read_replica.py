"""Catalog reads on a PostgreSQL streaming replica (`minimart.database.replica_url`).

The test starts its own primary and a hot standby made with pg_basebackup (as the postgres
user, in a temporary directory), so the machine's server is left alone. Pausing the
standby's replay proves that browsing reads the replica while writes go to the primary.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.database import make_engine, upgrade_schema
from minimart.domain.actors import Actor, Role
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET
from tests.integration.conftest import free_port
from tests.support.postgres_cluster import Cluster, as_postgres, cluster_directory

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def primary_and_replica() -> Iterator[tuple[str, str]]:
    with cluster_directory("minimart-replica-") as root:
        primary = Cluster(root, "primary", free_port())
        standby = Cluster(root, "standby", free_port())
        try:
            primary.initdb().start()
            as_postgres(str(primary.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p",
                        str(primary.port), "-U", "postgres", "-D", str(standby.data), "-R",
                        "-X", "stream")
            standby.start()
            yield primary.url, standby.url
        finally:
            standby.stop()
            primary.stop()


def wait_until(check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.1)


def test_browsing_reads_the_replica_while_writes_go_to_the_primary(primary_and_replica,
                                                                  tmp_path):
    primary_url, replica_url = primary_and_replica
    engine = make_engine(primary_url)
    upgrade_schema(engine)
    engine.dispose()
    app = make_app({"minimart.environment": "test", "minimart.database_url": primary_url,
                    "minimart.database.replica_url": replica_url,
                    "minimart.jwt_secret": TEST_JWT_SECRET,
                    "minimart.images.directory": str(tmp_path), **FAST_ARGON2}, environ={})
    replica = create_engine(replica_url, isolation_level="AUTOCOMMIT")
    container = app.registry.container
    try:
        client = TestApp(app)
        container = app.registry.container
        staff = container.in_transaction(lambda services: services.accounts.create_account(
            "staff@example.com", "a long password", "S", Role.STAFF, Actor.system()))
        headers = {"Authorization": f"Bearer {app.registry.token_codec.issue(staff)}"}

        def listed() -> list[str]:
            return [i["name"] for i in client.get("/api/v1/items").json["data"]]

        client.post_json("/api/v1/items", {"name": "Seen", "price": 100}, headers=headers)
        wait_until(lambda: listed() == ["Seen"])

        with replica.connect() as connection:
            connection.execute(text("SELECT pg_wal_replay_pause()"))
        created = client.post_json("/api/v1/items", {"name": "Unseen yet", "price": 100},
                                   headers=headers, status=201)
        time.sleep(0.5)
        assert listed() == ["Seen"]  # the paused replica does not have it
        client.get(f"/api/v1/items/{created.json['id']}", status=404)

        with replica.connect() as connection:
            connection.execute(text("SELECT pg_wal_replay_resume()"))
        wait_until(lambda: listed() == ["Seen", "Unseen yet"])
    finally:
        replica.dispose()
        container.engine.dispose()
        if container.replica_engine is not None:
            container.replica_engine.dispose()
