"""Price models per token: input and output USD per million tokens, both optional.

Records and OpenTelemetry spans that carry token counts but no cost are priced from these
(aurea/services/pricing.py). The API and the CLI refuse negative or non-finite prices; no
CHECK constraint is added, since SQLite could only add one by copying ``models``, which
other tables reference.

Revision ID: 0007_token_prices
Revises: 0006
Create Date: 2026-12-01

"""

import sqlalchemy as sa
from alembic import op

revision = "0007_token_prices"
down_revision = "0006"
branch_labels = None
depends_on = None

PRICES = ("input_usd_per_million_tokens", "output_usd_per_million_tokens")


def upgrade():
    # Plain ADD COLUMN: a batch copy would drop `models`, which other tables reference.
    for name in PRICES:
        op.add_column("models", sa.Column(name, sa.Double(), nullable=True))


def downgrade():
    for name in reversed(PRICES):
        op.drop_column("models", name)  # SQLite 3.35+ drops columns in place
