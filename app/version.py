"""The one version source, shared by the package, the CLI and build.spec."""

__version__ = "0.1.0"
