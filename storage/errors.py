"""The errors of the storage: what its callers see instead of SQLite's own."""

__all__ = ["StorageError"]


class StorageError(Exception):
    """The database refused or failed a read or a change (the SQLite error is its ``__cause__``)."""
