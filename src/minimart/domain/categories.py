"""Categories group a menu or a shelf: ordered by position, each item in at most one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from minimart.domain.errors import Conflict, NameTaken, ValidationFailed

EDITABLE = frozenset({"name", "description", "position"})


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: str
    description: str
    position: int
    created_at: datetime
    updated_at: datetime
    item_count: int = 0  # items shown to shoppers (not archived); filled in when listing

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "position": self.position}


def name_key(name: str) -> str:
    """What makes two category names the same: case (any alphabet) is ignored."""
    return name.strip().casefold()


def name_taken(name: str) -> Conflict:
    return NameTaken(f"a category named {name!r} exists",
                    details={"name": ["another category has this name"]})


def _check_name(name: str) -> None:
    if not name.strip():
        raise ValidationFailed("a category needs a name", details={"name": ["must not be blank"]})
