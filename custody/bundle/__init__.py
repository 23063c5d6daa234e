"""The export bundle: writing it and checking it from its files alone.

- :mod:`~custody.bundle.facts`: the one fold of the bundle's ledger, and its artifacts as a
  stream of typed events; every document below states these facts.
- Writing: :mod:`~custody.bundle.writer` (the order of files), :mod:`~custody.bundle.files`
  (files written once, hashed, signed from their digest), :mod:`~custody.bundle.manifest`,
  :mod:`~custody.bundle.verify_md`, :mod:`~custody.bundle.safezip` (the zip); case.jsonld is
  :mod:`custody.report.caseuco`.
- Checking: :mod:`~custody.bundle.verify` (directory or zip; a zip's records are read by
  :mod:`~custody.bundle.zipformat`, checked by :mod:`~custody.bundle.zipcheck` and unpacked
  by :mod:`~custody.bundle.zipextract`, every damage a finding),
  :mod:`~custody.bundle.checks` (SHA256SUMS, signatures,
  member lists), :mod:`~custody.bundle.manifest_check` and :mod:`~custody.bundle.uco_check`
  (the documents say what the ledger says), read as streams by
  :mod:`~custody.bundle.jsonstream` and compared by :mod:`~custody.bundle.compare`.
- Names: :mod:`~custody.bundle.layout`; ``sha256sum`` files: :mod:`~custody.bundle.sha256sums`.
"""
