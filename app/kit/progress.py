"""How long-running work tells its caller how far it got, without knowing who is watching."""

from __future__ import annotations

from collections.abc import Callable

# (stage, done, total): `done` items of `stage` so far, out of `total` (None: not known
# beforehand). Called as the work goes; the command line draws it on a terminal.
Progress = Callable[[str, int, int | None], None]
