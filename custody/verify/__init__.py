"""Verification: the chain, the signatures, the archives and the index."""
