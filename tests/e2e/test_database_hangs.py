"""The database hangs: alive to the kernel, which accepts connections and acknowledges data,
but nothing answers (a hung host, a network partition). A `pserve production.ini` process
over a PostgreSQL cluster of the test's own, frozen with SIGSTOP (postmaster and every
backend), must answer 503 within seconds, keep /healthz instant and /readyz bounded, and
serve again by itself once the cluster runs again (SIGCONT).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.test_production_processes import (
    ADMIN_PASSWORD,
    Deployment,
    assert_unavailable,
    call,
    fetch,
    sign_in,
)
from tests.integration.conftest import free_port, localstripe_url  # noqa: F401
from tests.support.postgres_cluster import Cluster, cluster_directory

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# production.ini: a checkout's ping gives up after connect_timeout_seconds (3), and so does
# the new connection that replaces the dead one; a statement after answer_timeout_seconds
# (6). Generous: the point is seconds, not the whole outage.
FAILS_WITHIN = 10.0
READINESS_WITHIN = 2 + 1.5  # minimart.readiness_timeout_seconds, and slack
INSTANT = 1.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with cluster_directory("minimart-hang-") as root:
        cluster = Cluster(root, "data", free_port())
        try:
            yield cluster.initdb().start()
        finally:
            cluster.stop()


@pytest.fixture
def shop(cluster: Cluster, localstripe_url: str) -> Iterator[Deployment]:  # noqa: F811
    deployment = Deployment(cluster.url, localstripe_url)
    try:
        deployment.cli("db", "upgrade")
        deployment.cli("create-account", "--email", "owner@example.com", "--name", "Owner",
                       "--role", "admin", env={"MINIMART_PASSWORD": ADMIN_PASSWORD})
        yield deployment
    finally:
        deployment.stop()


def timed(work: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = work()
    return result, time.monotonic() - started


def test_a_hung_database_answers_503_within_seconds_and_service_comes_back_by_itself(
        shop, cluster):
    root = shop.serve()
    owner = sign_in(root, "owner@example.com", ADMIN_PASSWORD)
    me = f"{root}/api/v1/accounts/me"
    assert fetch(me, owner)[0] == 200
    assert fetch(f"{root}/")[0] == 200

    with cluster.frozen(), ThreadPoolExecutor(max_workers=1) as pool:
        # a client that waits 5 s longer than the app may: a hang fails the test, not CI
        in_flight = pool.submit(timed, lambda: fetch(me, owner, timeout=FAILS_WITHIN + 5))
        time.sleep(0.5)  # the signed-in call now waits on the frozen database
        # even with credentials: nothing looks the caller up for /healthz
        (status, _, _), healthz_seconds = timed(
            lambda: fetch(f"{root}/healthz", owner, timeout=FAILS_WITHIN))
        assert status == 200 and healthz_seconds < INSTANT
        # its own bound, not the requests': it does not wait on their pool or its pings
        (status, body), readyz_seconds = timed(
            lambda: call("GET", f"{root}/readyz", timeout=FAILS_WITHIN))
        assert (status, body["error"]["code"]) == (503, "unavailable")
        assert readyz_seconds < READINESS_WITHIN
        api_answer, api_seconds = in_flight.result()
        assert_unavailable(api_answer, page=False)
        assert api_seconds < FAILS_WITHIN

        page_answer, page_seconds = timed(lambda: fetch(f"{root}/", timeout=FAILS_WITHIN + 5))
        assert_unavailable(page_answer, page=True)
        assert page_seconds < FAILS_WITHIN

        (status, _), healthz_seconds = timed(
            lambda: call("GET", f"{root}/healthz", timeout=FAILS_WITHIN))
        assert status == 200 and healthz_seconds < INSTANT

    thawed = time.monotonic()
    while fetch(me, owner, timeout=FAILS_WITHIN)[0] != 200:
        assert time.monotonic() - thawed < 15, "service did not come back by itself"
        time.sleep(0.2)
    recovery_seconds = time.monotonic() - thawed
    assert call("GET", f"{root}/readyz")[0] == 200
    assert fetch(f"{root}/")[0] == 200
    print(f"\nfrozen: signed-in call 503 in {api_seconds:.2f} s, page 503 in "
          f"{page_seconds:.2f} s, /readyz 503 in {readyz_seconds:.2f} s, /healthz in "
          f"{healthz_seconds * 1000:.0f} ms; thawed: serving again after "
          f"{recovery_seconds:.2f} s")
