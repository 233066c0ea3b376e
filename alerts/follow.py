"""Following a chain at intake: each message's stage, the drafts it calls for, and what operators must see.

Called by Service.receive inside the intake transaction, after the lifecycle stored the message:

    previous message of the chain ─► stage (alerts/chain.py) ─► route for the stage
        ─► draft (alerts/drafting.py) ─► combine with concurrent warnings (alerts/combine.py)
        ─► operator problems: unknown area codes, a warning that yields no draft
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts import combine
from alerts.areas import Areas
from alerts.chain import ENDING, STAGE_ZH, derive_stage
from alerts.drafting import Drafter, DraftOutcome
from alerts.lifecycle import Stored
from alerts.model import Alert
from alerts.routing import Plan, Router
from alerts.settings.chains import ChainsConfig
from alerts.store import alerts as alert_store
from alerts.store import problems


@dataclass
class Followed:
    stage: str
    why: str
    plan: Plan
    drafts: DraftOutcome
    combined: int | None = None


class Follower:
    def __init__(self, router: Router, drafter: Drafter, areas: Areas, config: ChainsConfig,
                 signature: str = "【高平应急科普】", combine_offers: bool = True):
        self.signature = signature
        self.router = router
        self.drafter = drafter
        self.areas = areas
        self.config = config
        # A combined text is written on the spot, so no provider has it registered: through a domestic
        # provider it could never be approved, and the warnings it replaced would wait for nothing.
        # There each chain keeps its own registered SMS (the hourly budget still spaces them).
        self.combine_offers = combine_offers

    async def follow(self, conn: AsyncConnection, alert: Alert, stored: Stored, *, now: datetime) -> Followed:
        row = await alert_store.previous_in_chain(conn, stored.chain_id, stored.alert_id)
        previous = alert_store.row_to_alert(row) if row is not None else None
        before, after = (self.areas.covered(previous) if previous else []), self.areas.covered(alert)
        stage, why = derive_stage(alert, previous=previous, previous_areas=before, areas=after)
        await alert_store.add_event(conn, stored.alert_id, at=now, change=f"stage:{stage}",
                                    cause=f"{STAGE_ZH[stage]}: {why}")
        if stage in ENDING:
            # The chain is over: it no longer counts as in force (console "in force" page).
            await alert_store.set_state(conn, stored.alert_id, "ended")
        plan = self.router.plan(alert, stage=stage)
        new_plan = self.router.plan(alert, stage="new") if stage not in ("new", *ENDING) else None
        previous_level = previous.level.value if previous is not None and previous.level else None
        outcome = await self.drafter.draft_for_alert(
            conn, alert, alert_id=stored.alert_id, chain_id=stored.chain_id, plan=plan, now=now, stage=stage,
            new_plan=new_plan, previous_level=previous_level,
            left=(self.router.plan(alert, stage="end"), sorted(set(before) - set(after))) if stage != "new"
            and stage not in ENDING and set(before) - set(after) else None)
        followed = Followed(stage, why, plan, outcome)
        if stage == "new" and outcome.created and self.combine_offers:
            followed.combined = await combine.offer(conn, outcome.created[0], drafter=self.drafter,
                                                    window_seconds=self.config.combine.window_seconds, now=now,
                                                    signature=self.signature)
        await self._report(conn, alert, stored, followed, now)
        return followed

    async def _report(self, conn: AsyncConnection, alert: Alert, stored: Stored, followed: Followed,
                      now: datetime) -> None:
        """Whatever means a warning may reach nobody is shown to operators (console queue, API)."""
        plan = followed.plan
        for code in plan.unknown_areas:
            await problems.report(
                conn, key=f"area:{code}:unknown", kind="unknown_area", severity="warning",
                subject=f"alert:{stored.alert_id}", at=now,
                what=f"预警 {alert.identifier} 含有未配置的区域代码 {code}",
                why=f"config/areas.yaml 中没有这个乡镇代码；按其前六位 {code[:6]} 已视为 {self.areas.region_name}全境处理",
                todo="核实该乡镇（统计用区划代码），在 config/areas.yaml 中补充其代码和名称，运行 alerts check 后重启服务")
        if followed.drafts.created or not alert.infos or alert.status not in ("Actual", "Exercise", "Test"):
            return
        if followed.stage in ENDING and not plan.problems:
            return  # an all-clear for a chain that reached nobody needs nobody told
        reasons = _why_nobody(alert, plan)
        if reasons is None:
            return
        await problems.report(
            conn, key=f"alert:{stored.alert_id}:no_draft", kind="no_route", severity="critical",
            subject=f"alert:{stored.alert_id}", at=now,
            what=f"预警 {alert.identifier}（{alert.hazard or '未识别灾种'} {alert.level.value if alert.level else ''}，"
                 f"{STAGE_ZH[followed.stage]}）没有生成任何待审批消息，不会送达任何人",
            why=reasons,
            todo="检查 config/routes.yaml、config/hazards.yaml、config/areas.yaml 和模板库（alerts check；"
                 "alerts routes test 该预警文件），必要时在控制台手动编写消息")


def _why_nobody(alert: Alert, plan: Plan) -> str | None:
    """Why no draft came out, or None when the warning is simply not ours (another city's codes)."""
    if not plan.areas:
        if any(a.geocodes for i in alert.infos for a in i.areas):
            return None  # its codes name other places (an unknown code of our city falls back, so is placed)
        return ("无法确定预警区域：没有区域代码，多边形无法与已配置的乡镇边界比对，区域描述中也没有本市乡镇名称"
                "（这类预警没有可用的兜底区域）")
    if alert.hazard is None:
        return "无法识别灾种（config/hazards.yaml 中没有对应的名称或代码）"
    if plan.problems:
        return "；".join(plan.problems)
    if not plan.matched:
        return "没有匹配的路由（config/routes.yaml）"
    return "路由没有产生任何消息（没有对应的模板或受众）"


def follower_for(settings: Any, router: Router, drafter: Drafter, areas: Areas) -> Follower:
    from alerts.channels.sms.approval import guard_for
    from alerts.settings.chains import chains_config

    return Follower(router, drafter, areas, chains_config(settings), signature=settings.service.sms.signature,
                    combine_offers=guard_for(settings) is None)
