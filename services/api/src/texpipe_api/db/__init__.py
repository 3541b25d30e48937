"""PostgreSQL access: every SQL string (queries.py), the schema's migrations, the pool."""
