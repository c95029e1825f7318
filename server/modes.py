"""File modes for health data (a leaf module: the command line sets the umask before anything
heavy is imported, and storage creates its files with these modes)."""

from __future__ import annotations

from typing import Final

__all__ = ["PRIVATE_FILE_MODE", "PRIVATE_UMASK"]

#: Mode of every file that holds health data: the database and its WAL/SHM, reports, exports.
PRIVATE_FILE_MODE: Final[int] = 0o600
#: The process umask that gives :data:`PRIVATE_FILE_MODE` to new files and 0700 to new folders.
PRIVATE_UMASK: Final[int] = 0o077
