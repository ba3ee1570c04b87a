"""On PostgreSQL, household_score becomes a table partitioned by run (one partition a run).

Why: a province's nightly run writes ten million scores and the oldest run kept is let go each
night. With one partition a run, letting a run go is dropping its table — instant, nothing
left for vacuum — instead of deleting ten million rows and their index entries; a run that did
not complete is discarded the same way; and a run's scores are written into a table of their
own, whose index (run, score) the queue's risk order reads for that run only. SQLite keeps
the plain table: a county's runs are small enough to delete.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _runs(bind) -> list[int]:
    return [row[0] for row in bind.execute(sa.text(
        "SELECT DISTINCT run_id FROM household_score ORDER BY run_id"))]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("""
        CREATE TABLE household_score_by_run (
            run_id INTEGER NOT NULL, household_id INTEGER NOT NULL, score FLOAT NOT NULL,
            CONSTRAINT pk_household_score_by_run PRIMARY KEY (run_id, household_id),
            CONSTRAINT fk_household_score_by_run_run_id FOREIGN KEY (run_id)
                REFERENCES score_run (id),
            CONSTRAINT fk_household_score_by_run_household_id FOREIGN KEY (household_id)
                REFERENCES household (id)
        ) PARTITION BY LIST (run_id)""")
    op.execute("CREATE INDEX ix_household_score_by_run_run_score "
               "ON household_score_by_run (run_id, score)")
    for run_id in _runs(bind):
        op.execute(f"CREATE TABLE household_score_r{run_id} PARTITION OF "
                   f"household_score_by_run FOR VALUES IN ({run_id})")
        op.execute(f"INSERT INTO household_score_r{run_id} SELECT run_id, household_id, score "
                   f"FROM household_score WHERE run_id = {run_id}")
    op.execute("DROP TABLE household_score")
    op.execute("ALTER TABLE household_score_by_run RENAME TO household_score")
    for old, new in (("pk_household_score_by_run", "pk_household_score"),
                     ("fk_household_score_by_run_run_id", "fk_household_score_run_id_score_run"),
                     ("fk_household_score_by_run_household_id",
                      "fk_household_score_household_id_household")):
        op.execute(f"ALTER TABLE household_score RENAME CONSTRAINT {old} TO {new}")
    op.execute("ALTER INDEX ix_household_score_by_run_run_score "
               "RENAME TO ix_household_score_run_score")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("""
        CREATE TABLE household_score_plain (
            run_id INTEGER NOT NULL, household_id INTEGER NOT NULL, score FLOAT NOT NULL)""")
    op.execute("INSERT INTO household_score_plain SELECT run_id, household_id, score "
               "FROM household_score")
    op.execute("DROP TABLE household_score CASCADE")
    op.execute("ALTER TABLE household_score_plain RENAME TO household_score")
    op.execute("ALTER TABLE household_score ADD CONSTRAINT pk_household_score "
               "PRIMARY KEY (run_id, household_id)")
    op.execute("ALTER TABLE household_score ADD CONSTRAINT fk_household_score_run_id_score_run "
               "FOREIGN KEY (run_id) REFERENCES score_run (id)")
    op.execute("ALTER TABLE household_score ADD CONSTRAINT "
               "fk_household_score_household_id_household FOREIGN KEY (household_id) "
               "REFERENCES household (id)")
    op.execute("CREATE INDEX ix_household_score_run_score ON household_score (run_id, score)")
