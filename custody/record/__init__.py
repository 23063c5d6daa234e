"""The signed record: canonical JSON, keys, entries, typed events and the fold."""
