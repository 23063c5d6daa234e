"""The trusted core: hashing, evidence store, keys, signing, ledger, verification, export."""
