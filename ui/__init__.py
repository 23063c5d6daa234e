"""The desktop application (PySide6). It calls ``app/`` services only; no business logic here."""
