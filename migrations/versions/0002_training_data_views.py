"""training-data views: query rows per type and per problem, trajectories → rows, dataset rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00

Plain SQL views that read the same on PostgreSQL and SQLite (see docs/sql-views.md).
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

VIEWS = {
    # One row per run × query type: how many rows, kept by the checks, rejected by the judge.
    "v_queries_per_type": """
        SELECT r.name AS run, g.run_id, g.query_type,
               COUNT(*) AS total,
               SUM(CASE WHEN g.kept THEN 1 ELSE 0 END) AS kept,
               SUM(CASE WHEN g.kept THEN 0 ELSE 1 END) AS dropped,
               SUM(CASE WHEN g.judge_label IS NULL THEN 0 WHEN g.judge_label THEN 0 ELSE 1 END)
                   AS judge_rejected,
               SUM(CASE WHEN g.kept AND (g.judge_label IS NULL OR g.judge_label) THEN 1 ELSE 0 END)
                   AS usable,
               COUNT(DISTINCT g.positive_doc_id) AS positives
        FROM generated_queries g JOIN runs r ON r.id = g.run_id
        GROUP BY r.name, g.run_id, g.query_type""",
    # One row per problem × query type.
    "v_queries_per_problem": """
        SELECT r.name AS run, p.run_id, p.id AS problem_id, p.source_id, g.query_type,
               COUNT(*) AS total,
               SUM(CASE WHEN g.kept THEN 1 ELSE 0 END) AS kept,
               SUM(CASE WHEN g.kept AND (g.judge_label IS NULL OR g.judge_label) THEN 1 ELSE 0 END)
                   AS usable,
               MAX(g.trajectory_reward) AS best_reward
        FROM generated_queries g JOIN problems p ON p.id = g.problem_id
             JOIN runs r ON r.id = p.run_id
        GROUP BY r.name, p.run_id, p.id, p.source_id, g.query_type""",
    # One row per final trajectory × retrieval node on it × query row made from that node.
    # (A qlexical row, one per theorem and run, is linked through the first sample that made it.)
    "v_trajectory_rows": """
        WITH RECURSIVE path(problem_id, solution_node_id, reward, node_id, parent_node_id,
                            node_type, doc_id) AS (
            SELECT s.problem_id, s.node_id, s.reward, t.node_id, t.parent_node_id, t.node_type,
                   t.doc_id
            FROM solutions s JOIN tree_nodes t
                 ON t.problem_id = s.problem_id AND t.node_id = s.node_id
            WHERE s.kind = 'final'
            UNION ALL
            SELECT p.problem_id, p.solution_node_id, p.reward, t.node_id, t.parent_node_id,
                   t.node_type, t.doc_id
            FROM path p JOIN tree_nodes t
                 ON t.problem_id = p.problem_id AND t.node_id = p.parent_node_id
        )
        SELECT pr.run_id, pa.problem_id, pr.source_id, pa.solution_node_id,
               pa.reward AS trajectory_reward, pa.node_id AS rt_node_id, pa.doc_id,
               g.id AS generated_query_id, g.query_type, g.key, g.kept, g.judge_label
        FROM path pa JOIN problems pr ON pr.id = pa.problem_id
             LEFT JOIN generated_queries g
                  ON g.problem_id = pa.problem_id AND g.rt_node_id = pa.node_id
        WHERE pa.node_type = 'retrieval'""",
    # One row per dataset version × query type (the paper's Table 9, from the stored rows).
    "v_dataset_rows_per_type": """
        SELECT d.name, d.version, d.id AS dataset_id, e.query_type, COUNT(*) AS rows
        FROM datasets d JOIN training_examples e ON e.dataset_id = d.id
        GROUP BY d.name, d.version, d.id, e.query_type""",
}


def upgrade() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
