"""An Excel workbook (Office Open XML, .xlsx) of one sheet, written row by row.

XlsxWriter's constant-memory mode writes each row to a temporary file as soon as the next one
starts, so memory does not grow with the number of rows; the workbook (a zip archive) can only
be put together once the last row is in, so its bytes come at the end. Every temporary file
lives in one folder of the sheet's own, removed by `discard` however the writing ended.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from xlsxwriter import Workbook

from app.kit.tables import Cell, runs_as_formula

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 1_048_576  # rows of a worksheet, the header's included
MAX_TEXT = 32_767  # characters of a cell; longer text is cut there
CHUNK = 1 << 16


class SheetFullError(Exception):
    """More rows than a worksheet has."""


class Sheet:
    """A workbook of one sheet: a bold, frozen header row with a filter on every column, then
    typed cells (numbers, booleans, text; null an empty cell)."""

    def __init__(self, name: str, headers: Sequence[str]) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="sheet-")
        self._path = Path(self._folder.name) / "sheet.xlsx"
        self._book = Workbook(
            str(self._path),
            {
                "constant_memory": True,
                "tmpdir": self._folder.name,
                # Text is written as text: never as a formula, a number or a link.
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self._sheet = self._book.add_worksheet(name)
        # Shown as text, as if typed with a leading apostrophe, and kept so when the cell is
        # edited; the text itself stays as it is.
        self._as_text = self._book.add_format({"quote_prefix": True})
        self._width = len(headers)
        self._row = 0
        self._sheet.write_row(0, 0, headers, self._book.add_format({"bold": True}))
        self._sheet.freeze_panes(1, 0)

    def append(self, cells: Sequence[Cell]) -> None:
        if self._row + 1 >= MAX_ROWS:
            raise SheetFullError(f"a worksheet holds at most {MAX_ROWS - 1} rows under its header")
        self._row += 1
        for column, value in enumerate(cells):
            self._write(column, value)

    def _write(self, column: int, value: Cell) -> None:
        sheet, row = self._sheet, self._row
        if value is None or value == "":
            return
        if isinstance(value, bool):
            sheet.write_boolean(row, column, value)
        elif isinstance(value, int | float):
            sheet.write_number(row, column, value)
        elif runs_as_formula(value):
            sheet.write_string(row, column, value[:MAX_TEXT], self._as_text)
        else:
            sheet.write_string(row, column, value[:MAX_TEXT])

    def finish(self) -> Iterator[bytes]:
        """Puts the workbook together (blocking: run it in a worker thread) and gives its
        bytes, read from disk as they are sent."""
        self._sheet.autofilter(0, 0, self._row, self._width - 1)
        self._book.close()
        return self._chunks(self._path.open("rb"))

    def _chunks(self, file: IO[bytes]) -> Iterator[bytes]:
        with file:
            yield from iter(lambda: file.read(CHUNK), b"")

    def discard(self) -> None:
        self._folder.cleanup()
