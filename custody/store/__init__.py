"""Evidence bytes: sources opened read-only, the run archive, copy-and-hash capture."""
