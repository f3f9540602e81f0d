"""Error types shared by every component.

`InputError` marks a problem with what the user supplied (a file, a record, a
setting). The command line maps it to exit status 2; anything else is a failure
of the program and exits with 1.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Invalid user input, located as precisely as possible.

    The message names the file, the 1-based line or row, the field and the
    offending value when they are known, followed by what to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.hint = hint

        location = []
        if self.path is not None:
            location.append(self.path)
        if line is not None:
            location.append(f"line {line}")
        if field is not None:
            location.append(f"field '{field}'")
        text = f"{', '.join(location)}: {message}" if location else message
        if hint:
            text = f"{text}. {hint}"
        super().__init__(text)
