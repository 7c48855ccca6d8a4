"""`minimart -c <ini> sweep-pictures`: replaced and removed pictures stay served for cached
pages, and the cron job deletes them only once no item has shown them for the grace."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from minimart import make_app
from minimart.domain.actors import Actor
from minimart.domain.catalog import NewItem
from minimart.entrypoints.cli import main
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET
from tests.functional.cli_inis import migrated_ini


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    return tmp_path / "images"


@pytest.fixture
def settings(tmp_path: Path, pictures: Path) -> dict[str, str]:
    return {"minimart.environment": "test",
            "minimart.database_url": f"sqlite:///{tmp_path / 'cli.sqlite'}",
            "minimart.jwt_secret": TEST_JWT_SECRET, "minimart.currency": "usd",
            "minimart.images.directory": str(pictures), **FAST_ARGON2}


@pytest.fixture
def ini(tmp_path: Path, settings: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ini = migrated_ini(tmp_path / "cli.ini", settings)
    capsys.readouterr()
    return ini


@pytest.fixture
def app(ini: str, settings: dict[str, str]) -> Iterator[Any]:
    wsgi = make_app(settings, environ={})
    yield wsgi
    wsgi.registry.container.engine.dispose()


def work(app: Any, job: Any) -> Any:
    return app.registry.container.in_transaction(job)


def jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (900, 600), (shade, 80, 80)).save(out, format="JPEG")
    return out.getvalue()


def files_of(pictures: Path, key: str) -> set[str]:
    stem = key.split(".")[0]
    return {p.name for p in pictures.iterdir() if p.name.startswith(stem)}


def age(pictures: Path, days: float) -> None:
    then = time.time() - days * 24 * 3600
    for path in pictures.iterdir():
        os.utime(path, (then, then))


def test_the_sweep_deletes_only_pictures_no_item_shows_after_the_grace(
        app: Any, ini: str, pictures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    system = Actor.system()

    def seed(services: Any) -> tuple[str, str]:
        soup = services.catalog.create_item(NewItem(name="Soup", price=500, stock=3), system)
        old = services.catalog.set_image(soup.id, jpeg(10), system).image_key
        new = services.catalog.set_image(soup.id, jpeg(200), system).image_key
        return old, new

    old, new = work(app, seed)
    assert len(files_of(pictures, old)) == 3  # the picture, 400 and 800 pixels wide

    assert main(["-c", ini, "sweep-pictures"]) == 0
    assert "deleted 0 unused pictures" in capsys.readouterr().out  # inside the grace

    age(pictures, days=8)
    assert main(["-c", ini, "sweep-pictures", "--older-than-days", "7"]) == 0

    assert "deleted 1 unused pictures" in capsys.readouterr().out
    assert files_of(pictures, old) == set()
    assert len(files_of(pictures, new)) == 3  # still shown, however old


def test_a_grace_shorter_than_a_day_is_refused(ini: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", ini, "sweep-pictures", "--older-than-days", "0.5"]) != 0

    assert "grace" in capsys.readouterr().err
