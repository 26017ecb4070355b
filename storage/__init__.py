"""The SQLite state of charge points: offline queue, authorization cache, local list, availability."""
