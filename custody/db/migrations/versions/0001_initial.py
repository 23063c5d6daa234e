"""Initial case schema (format 1), with the append-only ledger.

Frozen as literal DDL: this is what ``Base.metadata.create_all`` produced for SQLite and
PostgreSQL when the schema was first released, so the revision means the same tables on
every machine whatever the live models say today. Never edit it; add a revision instead.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE: tuple[str, ...] = (
    """CREATE TABLE cases (
	id VARCHAR(36) NOT NULL,
	title TEXT NOT NULL,
	incident_ref TEXT,
	severity VARCHAR(16),
	status VARCHAR(16) NOT NULL,
	organisation TEXT,
	legal_basis TEXT,
	requesting_party TEXT,
	scope TEXT,
	responsible TEXT,
	description TEXT,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id)
)""",
    """CREATE TABLE ledger_entries (
	id INTEGER NOT NULL,
	case_id VARCHAR(36) NOT NULL,
	seq INTEGER NOT NULL,
	at VARCHAR(32) NOT NULL,
	actor VARCHAR(64) NOT NULL,
	event VARCHAR(32) NOT NULL,
	payload TEXT NOT NULL,
	prev_hash VARCHAR(64) NOT NULL,
	entry_hash VARCHAR(64) NOT NULL,
	signatures TEXT,
	PRIMARY KEY (id),
	UNIQUE (case_id, seq)
)""",
    "CREATE INDEX ix_ledger_entries_case_id ON ledger_entries (case_id)",
    """CREATE TABLE examiners (
	fingerprint VARCHAR(64) NOT NULL,
	case_id VARCHAR(36) NOT NULL,
	name TEXT NOT NULL,
	organisation TEXT,
	email TEXT,
	certificate_pem TEXT NOT NULL,
	added_at DATETIME NOT NULL,
	PRIMARY KEY (fingerprint),
	FOREIGN KEY(case_id) REFERENCES cases (id)
)""",
    """CREATE TABLE runs (
	id VARCHAR(36) NOT NULL,
	case_id VARCHAR(36) NOT NULL,
	profile TEXT NOT NULL,
	status VARCHAR(16) NOT NULL,
	started_at DATETIME NOT NULL,
	finished_at DATETIME,
	examiner VARCHAR(64) NOT NULL,
	hostname TEXT NOT NULL,
	command_line TEXT NOT NULL,
	tool_version VARCHAR(32) NOT NULL,
	tool_sha256 VARCHAR(64) NOT NULL,
	archive_name TEXT NOT NULL,
	archive_size BIGINT,
	archive_sha256 VARCHAR(64),
	pid INTEGER,
	artifact_count INTEGER NOT NULL,
	error_count INTEGER NOT NULL,
	skipped_count INTEGER NOT NULL,
	bytes_collected BIGINT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(case_id) REFERENCES cases (id)
)""",
    "CREATE INDEX ix_runs_case_id ON runs (case_id)",
    """CREATE TABLE artifacts (
	id INTEGER NOT NULL,
	run_id VARCHAR(36) NOT NULL,
	ledger_seq INTEGER NOT NULL,
	collector VARCHAR(32) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	member_name TEXT NOT NULL,
	header_offset BIGINT NOT NULL,
	data_offset BIGINT NOT NULL,
	size BIGINT NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	sha1 VARCHAR(40) NOT NULL,
	md5 VARCHAR(32) NOT NULL,
	source_path TEXT,
	source_path_bytes BLOB,
	mode INTEGER,
	uid INTEGER,
	gid INTEGER,
	mtime VARCHAR(32),
	atime VARCHAR(32),
	ctime VARCHAR(32),
	birthtime VARCHAR(32),
	symlink_target TEXT,
	changed_while_read BOOLEAN NOT NULL,
	collected_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (run_id, member_name),
	FOREIGN KEY(run_id) REFERENCES runs (id)
)""",
    "CREATE INDEX ix_artifacts_run_collector ON artifacts (run_id, collector)",
    """CREATE TABLE collection_errors (
	id INTEGER NOT NULL,
	run_id VARCHAR(36) NOT NULL,
	ledger_seq INTEGER NOT NULL,
	collector VARCHAR(32) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	path TEXT,
	reason TEXT NOT NULL,
	at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(run_id) REFERENCES runs (id)
)""",
    "CREATE INDEX ix_collection_errors_run_id ON collection_errors (run_id)",
    """CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the custody ledger is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the custody ledger is append-only: DELETE refused'); END""",
)

_POSTGRESQL: tuple[str, ...] = (
    """CREATE TABLE cases (
	id VARCHAR(36) NOT NULL,
	title TEXT NOT NULL,
	incident_ref TEXT,
	severity VARCHAR(16),
	status VARCHAR(16) NOT NULL,
	organisation TEXT,
	legal_basis TEXT,
	requesting_party TEXT,
	scope TEXT,
	responsible TEXT,
	description TEXT,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	PRIMARY KEY (id)
)""",
    """CREATE TABLE ledger_entries (
	id SERIAL NOT NULL,
	case_id VARCHAR(36) NOT NULL,
	seq INTEGER NOT NULL,
	at VARCHAR(32) NOT NULL,
	actor VARCHAR(64) NOT NULL,
	event VARCHAR(32) NOT NULL,
	payload TEXT NOT NULL,
	prev_hash VARCHAR(64) NOT NULL,
	entry_hash VARCHAR(64) NOT NULL,
	signatures TEXT,
	PRIMARY KEY (id),
	UNIQUE (case_id, seq)
)""",
    "CREATE INDEX ix_ledger_entries_case_id ON ledger_entries (case_id)",
    """CREATE TABLE examiners (
	fingerprint VARCHAR(64) NOT NULL,
	case_id VARCHAR(36) NOT NULL,
	name TEXT NOT NULL,
	organisation TEXT,
	email TEXT,
	certificate_pem TEXT NOT NULL,
	added_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	PRIMARY KEY (fingerprint),
	FOREIGN KEY(case_id) REFERENCES cases (id)
)""",
    """CREATE TABLE runs (
	id VARCHAR(36) NOT NULL,
	case_id VARCHAR(36) NOT NULL,
	profile TEXT NOT NULL,
	status VARCHAR(16) NOT NULL,
	started_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	finished_at TIMESTAMP WITHOUT TIME ZONE,
	examiner VARCHAR(64) NOT NULL,
	hostname TEXT NOT NULL,
	command_line TEXT NOT NULL,
	tool_version VARCHAR(32) NOT NULL,
	tool_sha256 VARCHAR(64) NOT NULL,
	archive_name TEXT NOT NULL,
	archive_size BIGINT,
	archive_sha256 VARCHAR(64),
	pid INTEGER,
	artifact_count INTEGER NOT NULL,
	error_count INTEGER NOT NULL,
	skipped_count INTEGER NOT NULL,
	bytes_collected BIGINT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(case_id) REFERENCES cases (id)
)""",
    "CREATE INDEX ix_runs_case_id ON runs (case_id)",
    """CREATE TABLE artifacts (
	id SERIAL NOT NULL,
	run_id VARCHAR(36) NOT NULL,
	ledger_seq INTEGER NOT NULL,
	collector VARCHAR(32) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	member_name TEXT NOT NULL,
	header_offset BIGINT NOT NULL,
	data_offset BIGINT NOT NULL,
	size BIGINT NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	sha1 VARCHAR(40) NOT NULL,
	md5 VARCHAR(32) NOT NULL,
	source_path TEXT,
	source_path_bytes BYTEA,
	mode INTEGER,
	uid INTEGER,
	gid INTEGER,
	mtime VARCHAR(32),
	atime VARCHAR(32),
	ctime VARCHAR(32),
	birthtime VARCHAR(32),
	symlink_target TEXT,
	changed_while_read BOOLEAN NOT NULL,
	collected_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (run_id, member_name),
	FOREIGN KEY(run_id) REFERENCES runs (id)
)""",
    "CREATE INDEX ix_artifacts_run_collector ON artifacts (run_id, collector)",
    """CREATE TABLE collection_errors (
	id SERIAL NOT NULL,
	run_id VARCHAR(36) NOT NULL,
	ledger_seq INTEGER NOT NULL,
	collector VARCHAR(32) NOT NULL,
	kind VARCHAR(16) NOT NULL,
	path TEXT,
	reason TEXT NOT NULL,
	at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(run_id) REFERENCES runs (id)
)""",
    "CREATE INDEX ix_collection_errors_run_id ON collection_errors (run_id)",
    """CREATE OR REPLACE FUNCTION chainproof_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the custody ledger is append-only: % refused', TG_OP;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION chainproof_refuse_change()""",
    """CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
FOR EACH STATEMENT EXECUTE FUNCTION chainproof_refuse_change()""",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = _SQLITE
    elif dialect == "postgresql":
        statements = _POSTGRESQL
    else:
        raise NotImplementedError(f"no case schema for {dialect}")
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("a custody schema is never downgraded")
