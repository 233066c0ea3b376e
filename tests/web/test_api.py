"""The JSON API: every action and every refusal (401, 403, 404, 409, 400/422), with the console's permissions."""

from __future__ import annotations

import aiohttp
import pytest

from tests.web.conftest import Served
from tests.workflow.support import sample_alert


async def _call(served: Served, method: str, path: str, who: str | None = None, **kw) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    headers = served.bearer(who) if who else {}
    headers.update(kw.pop("headers", {}))
    async with aiohttp.ClientSession() as http, http.request(method, served.base + path, headers=headers, **kw) as r:
        assert r.content_type == "application/json", await r.text()
        return r.status, await r.json()


async def _sms_id(served: Served, draft_id: int) -> int:
    _, body = await _call(served, "GET", f"/api/v1/drafts/{draft_id}", "wang.approver")
    return next(m["id"] for m in body["messages"] if m["channel"] == "sms")


async def test_push_an_alert_then_list_get_and_approve_its_draft(served: Served) -> None:
    status, pushed = await _call(served, "POST", "/api/v1/alerts", "feed.source", data=sample_alert(level="orange"),
                                 headers={"Content-Type": "application/xml"})
    assert status == 202 and pushed["alert_id"] and len(pushed["drafts"]) == 1
    [draft_id] = pushed["drafts"]
    status, listed = await _call(served, "GET", "/api/v1/drafts?state=pending", "liu.observer")
    assert status == 200 and [d["id"] for d in listed["drafts"]] == [draft_id]
    status, draft = await _call(served, "GET", f"/api/v1/drafts/{draft_id}", "liu.observer")
    assert status == 200
    assert {k: draft[k] for k in ("id", "state", "alert_id", "level")} == \
        {"id": draft_id, "state": "pending", "alert_id": pushed["alert_id"], "level": "orange"}
    sms = next(m for m in draft["messages"] if m["channel"] == "sms")
    assert sms["text"].startswith("【高平应急科普】") and sms["segments"] >= 1 and sms["characters"] == len(sms["text"])
    status, approved = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/approve", "wang.approver")
    assert status == 200 and approved["state"] == "dispatching" and approved["expedited"] is True
    status, listed = await _call(served, "GET", "/api/v1/drafts?state=pending", "wang.approver")
    assert listed["drafts"] == []


async def test_reject_answers_with_the_rejected_draft(served: Served) -> None:
    draft_id = await served.world.ingest()
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/reject", "wang.approver",
                               json={"reason": "区域不对"})
    assert status == 200 and body["state"] == "rejected" and body["reason"] == "区域不对"


async def test_edit_review_and_two_approvals(served: Served) -> None:
    draft_id = await served.world.ingest()
    sms = await _sms_id(served, draft_id)
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/edit", "li.editor",
                               json={"message_id": sms, "text": "暴雨橙色预警：远离河道、低洼地，山区防范山洪。"})
    assert status == 200 and body["state"] == "pending" and body["last_edited_by"] == "li.editor"
    assert next(m for m in body["messages"] if m["id"] == sms)["edited"] is True
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/approve", "wang.approver")
    assert status == 409 and "expert" in body["error"]
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/review", "chen.expert")
    assert status == 200 and body["approvals"][0]["decision"] == "review"
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/approve", "wang.approver")
    assert status == 200 and body["state"] == "pending"
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/approve", "zhao.approver")
    assert status == 200 and body["state"] == "dispatching"


async def test_withdraw_stops_an_approved_draft(served: Served) -> None:
    draft_id = await served.world.ingest()
    await _call(served, "POST", f"/api/v1/drafts/{draft_id}/approve", "wang.approver")
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/withdraw", "zhao.approver",
                               json={"reason": "误报"})
    assert status == 200 and body["state"] == "withdrawn"


async def test_a_correction_of_a_sent_draft_is_a_new_linked_draft_that_needs_review(served: Served) -> None:
    draft_id = await served.world.ingest()
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/correct", "li.editor",
                               json={"reason": "区域写错"})
    assert status == 409 and "pending" in body["error"]  # nothing went out yet: edit or reject instead
    await _call(served, "POST", f"/api/v1/drafts/{draft_id}/approve", "wang.approver")
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/correct", "wang.approver",
                               json={"reason": "区域写错"})
    assert status == 403 and "compose" in body["error"]
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/correct", "li.editor",
                               json={"reason": "区域写错"})
    assert status == 201 and body["kind"] == "correction" and body["state"] == "pending"
    assert body["parent_draft_id"] == draft_id and body["created_by"] == "li.editor"
    assert all(m["text"].startswith(("【更正】", "【高平应急科普】【更正】")) for m in body["messages"])
    assert "expert" in body["policy"]
    status, answer = await _call(served, "POST", f"/api/v1/drafts/{body['id']}/approve", "wang.approver")
    assert status == 409 and "expert" in answer["error"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/drafts"), ("GET", "/api/v1/drafts/1"), ("POST", "/api/v1/drafts/1/approve"),
    ("POST", "/api/v1/drafts/1/reject"), ("POST", "/api/v1/drafts/1/edit"), ("POST", "/api/v1/drafts/1/review"),
    ("POST", "/api/v1/drafts/1/withdraw"), ("POST", "/api/v1/drafts/1/correct"), ("POST", "/api/v1/alerts"),
])
async def test_every_route_refuses_a_missing_or_wrong_token_with_401(served: Served, method: str, path: str) -> None:
    status, body = await _call(served, method, path)
    assert status == 401 and "bearer" in body["error"]
    status, body = await _call(served, method, path, headers={"Authorization": "Bearer alt_not-a-token"})
    assert status == 401 and body["error"]


async def test_a_disabled_users_token_stops_working(served: Served) -> None:
    from alerts.store import users as user_store

    async with served.world.service.db.write() as conn:
        await user_store.set_disabled(conn, "wang.approver", True)
    status, _ = await _call(served, "GET", "/api/v1/drafts", "wang.approver")
    assert status == 401


async def test_permissions_are_the_consoles_403(served: Served) -> None:
    draft_id = await served.world.ingest()
    sms = await _sms_id(served, draft_id)
    refusals = [
        ("GET", "/api/v1/drafts", "feed.source", None),
        ("GET", f"/api/v1/drafts/{draft_id}", "feed.source", None),
        ("POST", f"/api/v1/drafts/{draft_id}/approve", "liu.observer", None),
        ("POST", f"/api/v1/drafts/{draft_id}/approve", "qx.campaigner", None),
        ("POST", f"/api/v1/drafts/{draft_id}/approve", "admin", None),
        ("POST", f"/api/v1/drafts/{draft_id}/reject", "liu.observer", {"reason": "x"}),
        ("POST", f"/api/v1/drafts/{draft_id}/edit", "wang.approver", {"message_id": sms, "text": "新的文字内容"}),
        ("POST", f"/api/v1/drafts/{draft_id}/review", "wang.approver", None),
        ("POST", f"/api/v1/drafts/{draft_id}/withdraw", "li.editor", {"reason": "x"}),
        ("POST", "/api/v1/alerts", "liu.observer", None),
    ]
    for method, path, who, body in refusals:
        kw = {"json": body} if body is not None else {}
        if path.endswith("/alerts"):
            kw = {"data": sample_alert()}
        status, answer = await _call(served, method, path, who, **kw)
        assert status == 403, (method, path, who, answer)
        assert answer["error"]
    _, draft = await _call(served, "GET", f"/api/v1/drafts/{draft_id}", "wang.approver")
    assert draft["state"] == "pending" and draft["approvals"] == []


async def test_four_eyes_refuses_the_editor_who_also_approves(served: Served) -> None:
    from alerts.store import users as user_store

    async with served.world.service.db.write() as conn:
        both = await user_store.add(conn, "sun.both", ["editor", "approver"], "both-password-1",
                                    at=served.world.clock.now())
        token = await user_store.create_token(conn, both, "t", at=served.world.clock.now())
    served.world.tokens["sun.both"] = token
    draft_id = await served.world.ingest()
    sms = await _sms_id(served, draft_id)
    await _call(served, "POST", f"/api/v1/drafts/{draft_id}/edit", "sun.both", json={"message_id": sms, "text": "暴雨橙色预警：远离河道。"})
    await _call(served, "POST", f"/api/v1/drafts/{draft_id}/review", "chen.expert")
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/approve", "sun.both")
    assert status == 403 and "four eyes" in body["error"]


@pytest.mark.parametrize("path", ["/api/v1/drafts/999", "/api/v1/drafts/abc"])
async def test_unknown_drafts_are_404(served: Served, path: str) -> None:
    status, body = await _call(served, "GET", path, "wang.approver")
    assert status == 404 and "no draft" in body["error"]
    for action, body_json in (("approve", None), ("reject", {"reason": "x"}), ("review", None),
                              ("withdraw", {"reason": "x"}), ("edit", {"message_id": 1, "text": "新的文字"})):
        who = {"review": "chen.expert", "edit": "li.editor"}.get(action, "wang.approver")
        status, answer = await _call(served, "POST", f"{path}/{action}", who,
                                     **({"json": body_json} if body_json else {}))
        assert status == 404, (action, answer)


async def test_editing_an_unknown_message_is_404(served: Served) -> None:
    draft_id = await served.world.ingest()
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/edit", "li.editor",
                               json={"message_id": 99999, "text": "新的文字"})
    assert status == 404 and "no message 99999" in body["error"]


async def test_actions_on_a_draft_in_the_wrong_state_are_409(served: Served) -> None:
    draft_id = await served.world.ingest()
    sms = await _sms_id(served, draft_id)
    await _call(served, "POST", f"/api/v1/drafts/{draft_id}/approve", "wang.approver")
    for action, who, body in (("approve", "zhao.approver", None), ("reject", "zhao.approver", {"reason": "x"}),
                              ("edit", "li.editor", {"message_id": sms, "text": "新的文字"}),
                              ("review", "chen.expert", None)):
        status, answer = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/{action}", who,
                                     **({"json": body} if body else {}))
        assert status == 409, (action, answer)
        assert "dispatching" in answer["error"]


async def test_bad_bodies_are_named_precisely(served: Served) -> None:
    draft_id = await served.world.ingest()
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/reject", "wang.approver", data=b"{not json",
                               headers={"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/reject", "wang.approver", json={})
    assert status == 422 and body["error"].startswith("reason:")
    status, body = await _call(served, "POST", f"/api/v1/drafts/{draft_id}/edit", "li.editor",
                               json={"message_id": "x", "text": "t"})
    assert status == 422 and body["error"].startswith("message_id:")
    status, body = await _call(served, "GET", "/api/v1/drafts?state=waiting", "wang.approver")
    assert status == 400 and "waiting" in body["error"]
    status, body = await _call(served, "POST", "/api/v1/alerts", "feed.source", data=b"<alert>broken")
    assert status == 422 and "rejected" in body["error"]


async def test_the_openapi_document_lists_exactly_the_registered_api_routes(served: Served) -> None:
    from alerts.web.app import make_app

    app = make_app(served.world.service)
    registered = {(r.resource.canonical, r.method.lower()) for r in app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/api/v1/") and r.method != "HEAD"}
    async with aiohttp.ClientSession() as http, http.get(f"{served.base}/api/v1/openapi.json") as r:
        assert r.status == 200
        doc = await r.json()
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == registered
    assert doc["openapi"].startswith("3.")
    # The approval actions are described in full: who may call them and every refusal.
    for action in ("approve", "reject", "edit", "review", "withdraw"):
        op = doc["paths"][f"/api/v1/drafts/{{id}}/{action}"]["post"]
        assert {"200", "401", "403", "404", "409"} <= set(op["responses"]), action
    assert doc["paths"]["/api/v1/alerts"]["post"]["responses"]["202"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for ref in [v.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                        for v in op.get("responses", {}).values()]:
                if ref:
                    assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], (path, ref)
