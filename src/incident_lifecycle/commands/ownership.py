"""Who owns a product: the desk's ownership map, changed by a command."""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..domain.actors import Action
from ..domain.checks import identifier
from .base import Operation, Services

__all__ = ["Own"]


@attrs.frozen(kw_only=True)
class Own(Operation[None]):
    """Map a product to its owning engineering team (required before its alerts or reports)."""

    op: ClassVar[str] = "own"
    action: ClassVar[Action | None] = None

    product: str = attrs.field(validator=identifier())
    team: str = attrs.field(validator=identifier())

    def apply(self, services: Services) -> None:
        """Set the owner of the product in the desk's configuration."""
        services.config.ownership[self.product] = self.team
