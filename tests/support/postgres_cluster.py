"""PostgreSQL clusters a test starts for itself (initdb and pg_ctl in a temporary directory),
so it may pause, freeze or stop them and leave the machine's server alone.

PostgreSQL refuses to run as root: as root the server binaries run as the postgres user.
Without the binaries the test skips, or fails under CI=true.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.needs import require

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


def require_server_binaries() -> Path:
    """The directory of initdb and pg_ctl (and runuser to use them as root)."""
    as_root = os.geteuid() == 0
    require(PG_BIN is not None and (not as_root or shutil.which("runuser") is not None),
            "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) and, as root, runuser")
    assert PG_BIN is not None
    return PG_BIN


def as_postgres(*command: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)


@contextmanager
def cluster_directory(prefix: str) -> Iterator[Path]:
    """A temporary directory the server's user owns: data directories and sockets."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Cluster:
    """One PostgreSQL server on 127.0.0.1:`port`, its data in `root`/`name`."""

    def __init__(self, root: Path, name: str, port: int) -> None:
        self.bin = require_server_binaries()
        self.root = root
        self.data = root / name
        self.port = port
        self._frozen: list[int] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def initdb(self) -> Cluster:
        as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                    "-U", "postgres")
        return self

    def start(self, **settings: str) -> Cluster:
        """Start it; `settings` are server parameters for this start only (`-c name=value`,
        values without spaces), so a standby cloned from its files does not inherit them."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        options += "".join(f" -c {name}={value}" for name, value in settings.items())
        as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                    str(self.root / f"{self.data.name}.log"), "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        """Stop at once, thawing it first if it is frozen; quiet if it never started."""
        self.thaw()
        if self.data.exists():
            prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            subprocess.run([*prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                            "immediate", "stop"], capture_output=True, timeout=60)

    def clone_of(self, primary: Cluster, slot: str) -> Cluster:
        """Make this cluster a streaming standby of `primary` (pg_basebackup -R: standby.signal
        and primary_conninfo), through a physical replication slot `slot` it creates on the
        primary, so the primary keeps every WAL segment the standby has yet to receive.
        Start it with `cluster_name=<name>`: its WAL receiver then connects under that
        application_name, the one `synchronous_standby_names` on the primary names."""
        as_postgres(str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                    "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream", "-C",
                    "-S", slot)
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        """What one statement returns, unaligned (psql -At), from a connection of its own."""
        done = subprocess.run([str(self.bin / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1",
                               "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                               "-d", database, "-c", sql],
                              check=True, capture_output=True, text=True, timeout=30)
        return done.stdout.strip()

    def wait_for_synchronous_standby(self, name: str, timeout: float = 30) -> None:
        """Until the standby `name` streams from this primary as its synchronous standby:
        from then on a commit here returns only once the standby has flushed it."""
        deadline = time.monotonic() + timeout
        query = f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'"
        while self.psql(query) != "sync":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} is not a synchronous standby of port {self.port}")
            time.sleep(0.1)

    def promote(self) -> None:
        """Make this standby a primary (pg_ctl promote), returning once it takes writes."""
        as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30",
                    "promote")

    def processes(self) -> list[int]:
        """The postmaster, then every process it forked (backends, checkpointer, ...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *_children(postmaster)]

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: alive to the kernel, which accepts
        connections and acknowledges data, but nothing answers, as in a hung host or a
        network partition. The postmaster first, so it forks nothing new meanwhile."""
        self._frozen = self.processes()
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    @contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            after_name = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(after_name[1]) == parent:  # fields after the name: state, ppid, ...
            found.append(int(stat.parent.name))
    return found
