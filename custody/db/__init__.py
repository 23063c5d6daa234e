"""The case database: the ledger table, its writer, and the index tables beside it."""
