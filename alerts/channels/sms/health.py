"""Provider health for the failover: API faults seen by this process, undelivered rates from receipts."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from alerts.settings.channels import FailoverSection
from alerts.store import problems
from alerts.store.engine import Database
from alerts.store.tables import sms_receipts

log = logging.getLogger("alerts.channels.sms")


@dataclass
class State:
    down_until: float = 0.0  # monotonic: skipped until then (API failing, account fault)
    reason: str = ""
    kind: str = ""
    rate_bad: bool = False  # undelivered rate over the threshold
    rate_note: str = ""
    reported: bool = False  # an operator problem is open for it


class Health:
    """Which providers to use now. Shared by all sends of one channel; the receipts table makes the
    undelivered rate the same for every process (receipts arrive at whichever process serves hooks)."""

    def __init__(self, names: list[str], config: FailoverSection, db: Database | None, clock: object):
        self.names = names
        self.config = config
        self.db = db
        self.clock = clock
        self.states = {n: State() for n in names}
        self.template_down: dict[tuple[str, str], tuple[float, str]] = {}
        self._rates_at = 0.0
        self.monotonic = time.monotonic  # the clock of the "left alone for down_seconds" windows

    def usable(self, name: str) -> bool:
        s = self.states[name]
        return s.down_until <= self.monotonic() and not s.rate_bad

    def template_usable(self, name: str, template_id: str) -> bool:
        until = self.template_down.get((name, template_id))
        return until is None or until[0] <= self.monotonic()

    def now(self) -> datetime:
        return self.clock.now()  # type: ignore[attr-defined, no-any-return]

    async def fault(self, name: str, kind: str, reason: str, *, others: bool) -> None:
        s = self.states[name]
        s.down_until = self.monotonic() + self.config.down_seconds
        s.reason, s.kind = reason, kind
        log.warning("sms provider %s failing (%s): %s; new sends move to the next provider", name, kind, reason)
        await self._report(name, f"短信服务商 {name} 调用失败，新的短信已改由下一家服务商发送" if others else
                           f"短信服务商 {name} 调用失败，且没有可用的备用服务商",
                           reason, critical=not others)

    async def template_fault(self, name: str, template_id: str, reason: str) -> None:
        self.template_down[(name, template_id)] = (self.monotonic() + self.config.down_seconds, reason)
        if self.db is None:
            return
        async with self.db.write() as conn:
            await problems.report(
                conn, key=f"sms:template:{name}:{template_id}", kind="failover", severity="warning",
                subject=f"template:{template_id}", at=self.now(),
                what=f"短信服务商 {name} 拒绝了模板 {template_id}，该模板改由下一家服务商发送",
                why=reason, todo=f"在 {name} 控制台核对模板 {template_id} 的审核状态和登记内容，"
                                 "与 config/sms_providers.yaml 和 alerts check 的结果一致后再恢复")

    async def ok(self, name: str) -> None:
        s = self.states[name]
        if s.down_until:
            s.down_until, s.reason, s.kind = 0.0, "", ""
            log.info("sms provider %s answers again", name)
        await self._maybe_resolve(name)

    async def refresh_rates(self, *, force: bool = False) -> None:
        """Undelivered share of the receipts of the last window, per provider (read every 15 s)."""
        if self.db is None or (not force and self.monotonic() - self._rates_at < 15.0):
            return
        self._rates_at = self.monotonic()
        since = self.now() - timedelta(seconds=self.config.window_seconds)
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(sms_receipts.c.provider, func.count(),
                       func.sum(case((sms_receipts.c.delivered.is_(False), 1), else_=0)))
                .where(and_(sms_receipts.c.at >= since, sms_receipts.c.provider.in_(self.names)))
                .group_by(sms_receipts.c.provider))
            counts = {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}
        for name, s in self.states.items():
            total, bad = counts.get(name, (0, 0))
            was = s.rate_bad
            s.rate_bad = total >= self.config.min_receipts and bad / total > self.config.undelivered_threshold
            s.rate_note = f"{bad} of {total} receipts undelivered in the last {self.config.window_seconds:g} s"
            if s.rate_bad and not was:
                others = any(self.usable(n) for n in self.names if n != name)
                log.warning("sms provider %s: %s; new sends move to the next provider", name, s.rate_note)
                await self._report(name, f"短信服务商 {name} 近期未送达比例过高（{bad}/{total}），新的短信已改由下一家服务商发送"
                                   if others else f"短信服务商 {name} 近期未送达比例过高（{bad}/{total}），且没有可用的备用服务商",
                                   s.rate_note, critical=not others)
            elif was and not s.rate_bad:
                await self._maybe_resolve(name)

    async def _report(self, name: str, what: str, why: str, *, critical: bool) -> None:
        self.states[name].reported = True
        if self.db is None:
            return
        async with self.db.write() as conn:
            await problems.report(
                conn, key=f"sms:failover:{name}", kind="failover", severity="critical" if critical else "warning",
                subject=f"channel:sms:{name}", at=self.now(), what=what, why=why,
                todo=f"查看 {name} 控制台的账户余额、签名和模板状态及服务公告；恢复后系统会自动切回（见 runbooks/sms-provider-failing.md）")

    async def _maybe_resolve(self, name: str) -> None:
        s = self.states[name]
        if not s.reported or s.down_until or s.rate_bad:
            return
        s.reported = False
        if self.db is not None:
            async with self.db.write() as conn:
                await problems.resolve(conn, f"sms:failover:{name}", at=self.now())
        log.info("sms provider %s healthy again: sends go back to it", name)


async def record_receipt(conn: object, *, provider: str, delivered: bool, code: str, at: datetime) -> None:
    await conn.execute(sms_receipts.insert().values(provider=provider, at=at, delivered=delivered,  # type: ignore[attr-defined]
                                                    code=code[:60]))
