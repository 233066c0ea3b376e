"""Storage: SQLAlchemy Core on SQLite (WAL, default) or PostgreSQL; one query module per aggregate."""
