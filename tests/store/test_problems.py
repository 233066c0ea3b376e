"""Operator problems: reported under a key, counted when repeated, resolved, reopened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.store import problems as problem_store

T0 = datetime(2026, 7, 20, 6, 0, tzinfo=UTC)


async def test_a_problem_is_counted_resolved_and_reopened(database) -> None:  # type: ignore[no-untyped-def]
    db = database
    async with db.write() as conn:
        await problem_store.report(conn, key="alert:1:no_recipients", kind="no_recipients", severity="critical",
                                   what="暴雨橙色预警未送达任何人", why="没有匹配的路由", todo="检查 routes.yaml",
                                   subject="alert:1", at=T0)
        await problem_store.report(conn, key="alert:1:no_recipients", kind="no_recipients", severity="critical",
                                   what="暴雨橙色预警未送达任何人", at=T0 + timedelta(minutes=1))
    async with db.read() as conn:
        [p] = await problem_store.open_problems(conn)
    assert (p.count, p.opened_at, p.updated_at) == (2, T0, T0 + timedelta(minutes=1))

    async with db.write() as conn:
        assert await problem_store.resolve(conn, "alert:1:no_recipients", at=T0 + timedelta(minutes=2), by="wang")
        assert not await problem_store.resolve(conn, "alert:1:no_recipients", at=T0 + timedelta(minutes=2))
    async with db.read() as conn:
        assert await problem_store.open_problems(conn) == []
        assert (await problem_store.get(conn, "alert:1:no_recipients")).resolved_by == "wang"  # type: ignore[union-attr]

    later = T0 + timedelta(hours=1)
    async with db.write() as conn:
        await problem_store.report(conn, key="alert:1:no_recipients", kind="no_recipients", what="again", at=later)
    async with db.read() as conn:
        [p] = await problem_store.open_problems(conn)
    assert (p.count, p.opened_at, p.resolved_at, p.what) == (1, later, None, "again")


async def test_critical_problems_come_first(database) -> None:  # type: ignore[no-untyped-def]
    async with database.write() as conn:
        await problem_store.report(conn, key="a", kind="x", severity="info", what="info", at=T0)
        await problem_store.report(conn, key="b", kind="x", severity="critical", what="critical", at=T0)
        await problem_store.report(conn, key="c", kind="x", severity="warning", what="warning", at=T0)
    async with database.read() as conn:
        assert [p.what for p in await problem_store.open_problems(conn)] == ["critical", "warning", "info"]
