"""Initial case schema, with the append-only ledger.

Revision ID: 0001
Revises:
"""

from alembic import op

from custody.db.appendonly import create_append_only_guards
from custody.db.models import Base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    Base.metadata.create_all(bind)
    create_append_only_guards(bind)


def downgrade() -> None:
    raise NotImplementedError("a custody schema is never downgraded")
