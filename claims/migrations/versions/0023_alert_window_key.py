"""An alert's and a follow-up's window and household, one key against the window.

Why: each alert and follow-up checked its window and its household with two keys, row by
row; the household's check locked the household's row too. At a million monitoring windows
those checks were a seventh of the night (issue 19). One key (window, household) against the
window checks both at once, and more: the household is the window's. The window's id with its
household is unique (an index, which SQLite's and PostgreSQL's keys can name).

Revision ID: 0023
Revises: 0022
"""

from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

TABLES = ('monitoring_alert', 'follow_up')


def upgrade() -> None:
    op.create_index('ux_monitoring_window_household', 'monitoring_window',
                    ['id', 'household_id'], unique=True)
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f'fk_{table}_household_id_household', type_='foreignkey')
            batch.drop_constraint(f'fk_{table}_window_id_monitoring_window', type_='foreignkey')
            batch.create_foreign_key(f'fk_{table}_window_id_monitoring_window',
                                     'monitoring_window', ['window_id', 'household_id'],
                                     ['id', 'household_id'])


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f'fk_{table}_window_id_monitoring_window', type_='foreignkey')
            batch.create_foreign_key(f'fk_{table}_window_id_monitoring_window',
                                     'monitoring_window', ['window_id'], ['id'])
            batch.create_foreign_key(f'fk_{table}_household_id_household', 'household',
                                     ['household_id'], ['id'])
    op.drop_index('ux_monitoring_window_household', table_name='monitoring_window')
