"""Developer tool: generate a migration from the tables, against a scratch database at head.

Usage: python -m alerts.store.revision REV "message"   (writes migrations/versions/REV_message.py)
Review the file before committing it.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from alembic import command

from alerts.store.engine import Database
from alerts.store.migrate import MIGRATIONS, alembic_config


async def _generate(rev: str, message: str) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'scratch.db'}")

        def _run(sync_conn: Any) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")
            command.revision(cfg, message=message, autogenerate=True, rev_id=rev)

        async with db.write() as conn:
            await conn.run_sync(_run)
        await db.close()
    path = next((MIGRATIONS / "versions").glob(f"{rev}_*.py"))
    # The UTC decorator is a Python-side type; the database column is a plain timestamp.
    text = re.sub(r"alerts\.store\.tables\.UtcDateTime\([^)]*\)", "sa.DateTime(timezone=True)", path.read_text())
    text = text.replace("import alerts.store.tables\n", "")
    path.write_text(text)
    return path


if __name__ == "__main__":
    print(asyncio.run(_generate(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "schema change")))
