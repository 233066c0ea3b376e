"""/metrics: figures computed from the database at scrape time, latencies from stored timestamps."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from alerts.app import Service
from alerts.clock import ManualClock
from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
from alerts.settings import load_settings
from alerts.store import feeds as feed_store
from alerts.store import users as user_store
from alerts.store.migrate import upgrade
from alerts.web.app import make_app
from tests.ops.helpers import TOWNSHIPS, cap_alert, free_port, residents_csv, set_yaml_value


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


async def test_metrics_expose_stage_latencies_outbox_and_feeds_after_an_end_to_end_run(
        config_dir: Path, database_url: str) -> None:
    channels = config_dir / "channels.yaml"
    set_yaml_value(channels, r"^  batch_size: .*$", "  batch_size: 5")
    if "  lanes:" in channels.read_text(encoding="utf-8"):
        set_yaml_value(channels, r"^  lanes: .*$", "  lanes: 1")  # one batch per run, so batches are apart in time
    start = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(start)
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url,
                                              "ALERTS_METRICS_TOKEN": "scrape-token-0123456789"})
    service = Service(settings, clock=clock)
    await upgrade(service.db)
    async with service.db.write() as conn:
        approver = await user_store.add(conn, "wang.approver", ["approver"], "approver-password", at=start)
        observer = await user_store.add(conn, "prom", ["observer"], "observer-password", at=start)
        source = await user_store.add(conn, "cma", ["source"], "source-password", at=start)
        observer_token = await user_store.create_token(conn, observer, "prometheus", at=start)
        source_token = await user_store.create_token(conn, source, "push", at=start)
        rows, problems = parse_residents_csv(residents_csv(12, TOWNSHIPS[:3]), service.areas)
        assert not problems
        await upsert_residents(conn, rows, at=start, report=ImportReport())
        await feed_store.record_success(conn, "demo", at=start, new_entries=1)

    intake = await service.receive(cap_alert("METRICS-1", TOWNSHIPS[:3], now=start), source="demo")
    [draft_id] = intake.drafts.created
    clock.advance(seconds=120)  # the approver takes two minutes
    await service.actions.approve(approver, draft_id, origin="test")
    clock.advance(seconds=30)  # the outbox picks it up 30 s later, five per batch, one batch a second
    for _ in range(10):
        if (await service.worker.run_once(max_batches=1)).claimed == 0:
            break
        clock.advance(seconds=1)

    runner = web.AppRunner(make_app(service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url, headers={"Authorization": "Bearer scrape-token-0123456789"}) as r:
                assert r.status == 200, "Prometheus sends the scrape token"
                assert r.headers["Content-Type"].startswith("text/plain")
                text = await r.text()
            # Being on the same host is no credential; a user token of a role with `view` also works.
            async with http.get(url) as r:
                assert r.status == 401
            async with http.get(url, headers={"X-Forwarded-For": "10.1.2.3",
                                              "Authorization": f"Bearer {source_token}"}) as r:
                assert r.status == 403 and "view" in (await r.json())["error"]
            async with http.get(url, headers={"X-Forwarded-For": "10.1.2.3",
                                              "Authorization": f"Bearer {observer_token}"}) as r:
                assert r.status == 200
    finally:
        await runner.cleanup()
        await service.close()

    found = samples(text)
    latency = "alerts_stage_latency_seconds"
    assert value(found, latency, stage="received_to_draft", quantile="1") == 0
    assert value(found, latency, stage="draft_to_approved", quantile="0.5") == 120
    assert value(found, latency, stage="approved_to_first_request", quantile="1") == 30
    assert value(found, latency, stage="approved_to_last_request", quantile="1") == 32  # three batches of 5, 5, 2
    assert value(found, f"{latency}_count", stage="draft_to_approved") == 1
    assert value(found, "alerts_deliveries", channel="sms", state="sent") == 12
    assert value(found, "alerts_provider_latency_seconds_count", channel="sms") == 12
    assert value(found, "alerts_provider_attempts_window", channel="sms", outcome="ok", error_code="") == 12
    assert value(found, "alerts_drafts", state="sent", kind="warning") == 1
    assert value(found, "alerts_alerts_received_total", hazard="rainstorm", level="orange", status="Actual") == 1
    assert value(found, "alerts_outbox_depth") == 0
    assert value(found, "alerts_outbox_oldest_age_seconds") == 0
    assert value(found, "alerts_feed_staleness_seconds", feed="demo") == (clock.now() - start).total_seconds()
    assert value(found, "alerts_feed_stale", feed="demo") == 0
    assert value(found, "alerts_feed_documents", source="demo", outcome="stored") == 1
    assert "+86" not in text and "1390000" not in text, "no phone numbers in metrics"
    # Every latency also as buckets: cumulative, ending at +Inf with the window's count.
    hist = "alerts_stage_latency_window_seconds"
    assert value(found, f"{hist}_bucket", stage="draft_to_approved", le="60.0") == 0
    assert value(found, f"{hist}_bucket", stage="draft_to_approved", le="120.0") == 1
    assert value(found, f"{hist}_bucket", stage="approved_to_first_request", le="+Inf") == 1
    assert value(found, f"{hist}_gsum", stage="draft_to_approved") == 120
    assert value(found, "alerts_provider_latency_window_seconds_bucket", channel="sms", le="+Inf") == 12
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    for name in ("alerts_stage_latency_window_seconds", "alerts_provider_latency_window_seconds"):
        assert types[name] == "histogram", types.get(name)
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        by_series: dict = {}
        for s in family.samples:
            if s.name.endswith("_bucket"):
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                by_series.setdefault(key, []).append(s.value)
        for counts in by_series.values():
            assert counts == sorted(counts), f"{family.name}: buckets must be cumulative"
    promtool = shutil.which("promtool")
    if promtool:  # Debian's prometheus package; .ci/run installs it where it can
        checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_metrics_on_an_empty_database_report_zero_depth_and_empty_summaries(
        config_dir: Path, database_url: str) -> None:
    from alerts.metrics import render, snapshot

    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url,
                                              "ALERTS_METRICS_TOKEN": "scrape-token-0123456789"})
    service = Service(settings)
    await upgrade(service.db)
    try:
        async with service.db.read() as conn:
            snap = await snapshot(conn, service.clock.now(), {"demo": 60})
    finally:
        await service.close()
    found = samples(render(snap).decode())
    assert value(found, "alerts_outbox_depth") == 0
    assert value(found, "alerts_stage_latency_seconds_count", stage="draft_to_approved") == 0


async def test_a_queued_delivery_shows_as_outbox_depth_with_its_age(config_dir: Path, database_url: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(start)
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url,
                                              "ALERTS_METRICS_TOKEN": "scrape-token-0123456789"})
    service = Service(settings, clock=clock)
    await upgrade(service.db)
    from alerts.metrics import render, snapshot

    try:
        async with service.db.write() as conn:
            approver = await user_store.add(conn, "wang.approver", ["approver"], "approver-password", at=start)
            rows, _ = parse_residents_csv(residents_csv(3, TOWNSHIPS[:1]), service.areas)
            await upsert_residents(conn, rows, at=start, report=ImportReport())
        intake = await service.receive(cap_alert("DEPTH-1", TOWNSHIPS[:1], now=start), source="push:cma")
        await service.actions.approve(approver, intake.drafts.created[0], origin="test")
        clock.advance(seconds=45)  # nobody dispatches: the outbox grows old
        async with service.db.read() as conn:
            snap = await snapshot(conn, clock.now())
    finally:
        await service.close()
    found = samples(render(snap).decode())
    assert value(found, "alerts_outbox_depth") == 3
    assert value(found, "alerts_outbox_due") == 3
    assert value(found, "alerts_outbox_oldest_age_seconds") == 45


def test_the_example_prometheus_rules_use_only_exported_metrics_and_point_at_runbooks() -> None:
    import re

    import yaml

    from alerts.metrics import DatabaseCollector, Snapshot
    from tests.ops.helpers import ROOT

    snap = Snapshot(now=datetime.now(UTC), stages={"draft_to_approved": [1.0]}, provider_latency={"sms": [0.2]})
    exported = {family.name for family in DatabaseCollector(snap).collect()}
    rules = yaml.safe_load((ROOT / "runbooks" / "prometheus-rules.yml").read_text(encoding="utf-8"))
    for rule in rules["groups"][0]["rules"]:
        for name in re.findall(r"\balerts_[a-z_]+", rule["expr"]):
            assert name in exported, f"{rule['alert']}: {name} is not exported by /metrics"
        assert (ROOT / rule["annotations"]["runbook"]).is_file(), rule["alert"]
    promtool = shutil.which("promtool")
    if promtool:
        checked = subprocess.run([promtool, "check", "rules", str(ROOT / "runbooks" / "prometheus-rules.yml")],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
