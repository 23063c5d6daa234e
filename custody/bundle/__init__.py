"""The export bundle: writing it and checking it from its files alone."""
