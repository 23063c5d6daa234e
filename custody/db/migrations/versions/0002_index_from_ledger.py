"""Index schema 2: every index value derived from the ledger alone, keyed per case.

The index tables (cases, examiners, runs, artifacts, collection_errors) are dropped and made
again; ``index_state`` says how far each case's index is projected. Index rows are derived
data: the ledger is untouched. Each case keeps its ``cases`` row by id only (the ledger writer
locks it) and gets an ``index_state`` row marked "not built" (``ledger_seq`` -1); opening
the case builds its index from the ledger (``custody.db.index.catch_up``).

Literal DDL, the same on SQLite and PostgreSQL. Never edit it; add a revision instead.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_DROP = (
    "DROP TABLE artifacts",
    "DROP TABLE collection_errors",
    "DROP TABLE runs",
    "DROP TABLE examiners",
    "DROP TABLE cases",
)

_CREATE = (
    """CREATE TABLE cases (
	id VARCHAR(36) NOT NULL,
	opened_seq BIGINT,
	title TEXT,
	incident_ref TEXT,
	severity TEXT,
	status TEXT,
	organisation TEXT,
	legal_basis TEXT,
	requesting_party TEXT,
	scope TEXT,
	responsible TEXT,
	description TEXT,
	created_at TEXT,
	PRIMARY KEY (id)
)""",
    """CREATE TABLE examiners (
	case_id VARCHAR(36) NOT NULL,
	fingerprint TEXT NOT NULL,
	name TEXT NOT NULL,
	organisation TEXT,
	email TEXT,
	role TEXT NOT NULL,
	certificate_pem TEXT NOT NULL,
	added_seq BIGINT NOT NULL,
	added_at TEXT NOT NULL,
	PRIMARY KEY (case_id, fingerprint)
)""",
    """CREATE TABLE runs (
	case_id VARCHAR(36) NOT NULL,
	run_id TEXT NOT NULL,
	started_seq BIGINT NOT NULL,
	started_at TEXT NOT NULL,
	examiner TEXT NOT NULL,
	host TEXT NOT NULL,
	profile TEXT NOT NULL,
	command_line TEXT NOT NULL,
	tool_version TEXT,
	tool_sha256 TEXT,
	archive TEXT NOT NULL,
	pid BIGINT,
	status TEXT NOT NULL,
	finished_seq BIGINT,
	finished_at TEXT,
	reason TEXT,
	archive_size BIGINT,
	archive_sha256 TEXT,
	artifacts BIGINT NOT NULL,
	bytes BIGINT NOT NULL,
	regular_files BIGINT NOT NULL,
	errors BIGINT NOT NULL,
	skipped BIGINT NOT NULL,
	changed BIGINT NOT NULL,
	PRIMARY KEY (case_id, run_id)
)""",
    """CREATE TABLE artifacts (
	case_id VARCHAR(36) NOT NULL,
	seq BIGINT NOT NULL,
	run_id TEXT NOT NULL,
	collector TEXT NOT NULL,
	kind TEXT NOT NULL,
	member_name TEXT NOT NULL,
	member_b64 TEXT,
	header_offset BIGINT NOT NULL,
	data_offset BIGINT NOT NULL,
	size BIGINT NOT NULL,
	header_sha256 TEXT,
	sha256 TEXT NOT NULL,
	sha1 TEXT NOT NULL,
	md5 TEXT NOT NULL,
	source_path TEXT,
	source_path_b64 TEXT,
	mode BIGINT,
	uid BIGINT,
	gid BIGINT,
	uname TEXT,
	gname TEXT,
	mtime TEXT,
	atime TEXT,
	ctime TEXT,
	birthtime TEXT,
	symlink_target TEXT,
	symlink_target_b64 TEXT,
	changed TEXT,
	note TEXT,
	description TEXT,
	collected_at TEXT NOT NULL,
	PRIMARY KEY (case_id, seq)
)""",
    "CREATE INDEX ix_artifacts_run_collector ON artifacts (case_id, run_id, collector)",
    """CREATE TABLE collection_errors (
	case_id VARCHAR(36) NOT NULL,
	seq BIGINT NOT NULL,
	run_id TEXT NOT NULL,
	collector TEXT NOT NULL,
	kind TEXT NOT NULL,
	reason TEXT NOT NULL,
	path TEXT,
	path_b64 TEXT,
	at TEXT NOT NULL,
	PRIMARY KEY (case_id, seq)
)""",
    "CREATE INDEX ix_collection_errors_run ON collection_errors (case_id, run_id)",
    """CREATE TABLE index_state (
	case_id VARCHAR(36) NOT NULL,
	ledger_seq BIGINT NOT NULL,
	ledger_head TEXT NOT NULL,
	PRIMARY KEY (case_id)
)""",
    # The lock rows of the ledger writer, and each case's index marked as not built yet
    # (ledger_seq -1): opening the case builds it from the ledger.
    "INSERT INTO cases (id) SELECT DISTINCT case_id FROM ledger_entries",
    "INSERT INTO index_state (case_id, ledger_seq, ledger_head) "
    "SELECT DISTINCT case_id, -1, '' FROM ledger_entries",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"no case schema for {dialect}")
    for statement in (*_DROP, *_CREATE):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("a custody schema is never downgraded")
