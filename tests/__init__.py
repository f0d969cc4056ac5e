"""The suite runs from a checkout: the commands it starts run from it too."""

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
