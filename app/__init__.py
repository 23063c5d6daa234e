"""Services that orchestrate a case, and the command line."""
