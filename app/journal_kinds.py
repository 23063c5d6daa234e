"""The kinds of incident journal entry (DESIGN.md, Incident record); no imports, cheap to load."""

JOURNAL_KINDS = (
    "note",
    "event_reported",
    "weakness_reported",
    "assessment",
    "decision",
    "action",
    "communication",
    "lesson_learned",
)
