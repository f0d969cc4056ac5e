from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.kit.protection import ProtectionLevel


class Scope(StrEnum):
    read_restricted = "read:restricted"
    read_confidential = "read:confidential"
    write = "write"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """The client behind a request: an API key with its scopes, or an anonymous address."""

    key_id: str | None
    scopes: frozenset[Scope]
    address: str

    @property
    def rate_limit_identity(self) -> str:
        return f"key:{self.key_id}" if self.key_id else f"address:{self.address}"

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes

    @property
    def hidden_levels(self) -> list[ProtectionLevel]:
        """Levels whose records this client must not learn exist."""
        return [] if self.has(Scope.read_confidential) else [ProtectionLevel.confidential]

    def sees_in_full(self, level: ProtectionLevel) -> bool:
        """Whether records of this level are shown uncoarsened. read:confidential covers
        restricted records too: it is the stronger grant."""
        if level is ProtectionLevel.public:
            return True
        if level is ProtectionLevel.restricted:
            return self.has(Scope.read_restricted) or self.has(Scope.read_confidential)
        return self.has(Scope.read_confidential)

    @property
    def full_levels(self) -> list[ProtectionLevel]:
        """Levels whose records this client is shown in full."""
        return [level for level in ProtectionLevel if self.sees_in_full(level)]

    @property
    def tier(self) -> str:
        """What this client may see, as a word: cursors are bound to it."""
        if self.has(Scope.read_confidential):
            return "confidential"
        return "restricted" if self.has(Scope.read_restricted) else "public"
