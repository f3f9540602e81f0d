"""The review service over HTTP: a real server process on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.review.helpers import HOSTILE_IMG, HOSTILE_STEP, Server, free_port, make_triplet, seeded_store

REVIEWERS = {"ana": 1, "ben": 1, "cy": 1, "lead": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review-api")
    items = [
        (make_triplet("hostile", precheck="correct", steps=["Let $n = 1$.", HOSTILE_STEP, HOSTILE_IMG]), {}),
        (make_triplet("double-1", precheck="correct"), {"reviews_required": 2}),
        (make_triplet("double-2", "incorrect", precheck="incorrect"), {"reviews_required": 2}),
        (make_triplet("gold-1", precheck="correct"), {"gold": True}),
        (make_triplet("disputed", precheck="incorrect"), {}),
    ] + [(make_triplet(f"plain-{n}", precheck="correct"), {}) for n in range(6)]
    store = tmp / "review.db"
    tokens = seeded_store(store, REVIEWERS, items)
    srv = Server(store=store, port=free_port(), log=tmp / "server.log", tokens=tokens)
    srv.start()
    yield srv
    srv.stop()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def signed_in(server: Server, reviewer: str) -> tuple[httpx.Client, str]:
    """A browser-like client with a session cookie, and the session's CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=30.0, follow_redirects=False)
    page = client.get("/login")
    response = client.post("/login", data={"token": server.tokens[reviewer], "csrf_token": csrf_of(page.text),
                                           "next": "/queue"})
    assert response.status_code == 303, response.text
    queue = client.get("/queue")
    assert queue.status_code == 200
    return client, csrf_of(queue.text)


def test_binds_loopback_and_sends_security_headers(server: Server):
    response = httpx.get(f"{server.url}/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "reprolab_login_csrf" in response.headers["set-cookie"]
    assert "httponly" in response.headers["set-cookie"].lower()


def test_tokens_and_sessions_hashed_at_rest(server: Server):
    client, _ = signed_in(server, "ana")
    session = client.cookies.get("reprolab_session")
    raw = b"".join(path.read_bytes() for path in server.store.parent.glob("review.db*"))
    for secret in (server.tokens["ana"], server.tokens["lead"], session):
        assert secret.encode() not in raw
    with sqlite3.connect(server.store) as conn:
        hashes = {row[0] for row in conn.execute("SELECT token_hash FROM reviewer_tokens")}
        sessions = {row[0] for row in conn.execute("SELECT session_hash FROM sessions")}
    assert hashlib.sha256(server.tokens["ana"].encode()).hexdigest() in hashes
    assert hashlib.sha256(session.encode()).hexdigest() in sessions


def test_sign_in_required(server: Server):
    assert httpx.get(f"{server.url}/api/next").status_code == 401
    assert httpx.get(f"{server.url}/api/next", headers={"Authorization": "Bearer rvw_wrong"}).status_code == 401
    response = httpx.get(f"{server.url}/queue")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    login = httpx.Client(base_url=server.url)
    page = login.get("/login")
    bad = login.post("/login", data={"token": "rvw_not-a-token", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 401
    assert "not valid" in bad.text


def test_csrf_required_on_every_form(server: Server):
    client, csrf = signed_in(server, "cy")
    triplet_id = "plain-5"
    assert client.get(f"/items/{triplet_id}").status_code == 200
    form = {"verdict": "correct", "request_id": "csrf-test-0001"}
    # Label form without the token, with another session's token, and with a forged one.
    assert client.post(f"/items/{triplet_id}/label", data=form).status_code == 403
    _, other_csrf = signed_in(server, "ben")
    assert client.post(f"/items/{triplet_id}/label", data=form | {"csrf_token": other_csrf}).status_code == 403
    assert client.post(f"/items/{triplet_id}/label", data=form | {"csrf_token": "x" * 64}).status_code == 403
    # Autosave without the header.
    draft = {"draft": {"verdict": "unsure"}, "seconds": 1}
    assert client.put(f"/api/drafts/{triplet_id}", json=draft).status_code == 403
    assert client.put(f"/api/drafts/{triplet_id}", json=draft, headers={"X-CSRF-Token": csrf}).status_code == 200
    # Sign-out and sign-in forms.
    assert client.post("/logout", data={"csrf_token": ""}).status_code == 403
    fresh = httpx.Client(base_url=server.url)
    assert fresh.post("/login", data={"token": server.tokens["cy"], "csrf_token": "guess"}).status_code == 403
    # A cross-site request is refused even with the right token.
    response = client.post(f"/items/{triplet_id}/label", data=form | {"csrf_token": csrf},
                           headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    # Nothing was recorded by any of these.
    with server.client("lead") as lead:
        assert all(event["reviewer"] != "cy" for event in lead.get(f"/api/l2/items/{triplet_id}/history").json()["labels"])
    # The real form posts and redirects to the next item.
    ok = client.post(f"/items/{triplet_id}/label", data=form | {"csrf_token": csrf})
    assert ok.status_code == 303
    assert ok.headers["location"].startswith("/next?done=")
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/queue").status_code == 303


def test_proof_and_comment_text_escaped(server: Server):
    client, csrf = signed_in(server, "ana")
    html = client.get("/items/hostile").text
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = 1; alert(&#34;xss&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned = 2; alert(1)&#34;&gt;" in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html  # the pre-check rationale
    # A hostile comment, shown to the level-2 reviewer in the label history.
    response = client.post("/items/hostile/label", data={
        "verdict": "unsure", "comment": '<script>alert("c")</script><img src=x onerror=alert(3)>',
        "csrf_token": csrf, "request_id": "escape-test-0001",
    })
    assert response.status_code == 303
    lead, _ = signed_in(server, "lead")
    html = lead.get("/items/hostile").text
    assert 'id="history"' in html
    assert "&lt;script&gt;alert(&#34;c&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(3)&gt;" in html
    assert "<img src=x" not in html
    assert '<script>alert("c")' not in html


def test_level1_cannot_use_level2_endpoints(server: Server):
    with server.client("ben") as ben:
        for path in ("/api/stats", "/api/l2/escalated", "/api/l2/items/disputed/history", "/l2", "/stats",
                     "/export?format=jsonl", "/export?format=parquet"):
            response = ben.get(path, headers={"Accept": "application/json"})
            assert response.status_code == 403, path
        # Make an item escalated: ben disagrees with the pre-check on `disputed`.
        assert ben.post("/api/items/disputed/labels", json={"verdict": "correct", "request_id": "l1-sep-0001"}
                        ).json()["status"] == "escalated"
    with server.client("ana") as ana:
        # A level-1 reviewer can neither open nor label an escalated item.
        assert ana.get("/api/items/disputed").status_code == 409
        response = ana.post("/api/items/disputed/labels", json={"verdict": "incorrect", "request_id": "l1-sep-0002"})
        assert response.status_code == 409
        assert ana.put("/api/drafts/disputed", json={"draft": {"verdict": "correct"}}).status_code == 409
    client, _ = signed_in(server, "ana")
    assert client.get("/items/disputed").status_code == 409
    assert client.get("/stats").status_code == 403
    assert client.get("/l2").status_code == 403
    # The level-2 reviewer gets the item and decides it.
    with server.client("lead") as lead:
        escalated = [item["triplet_id"] for item in lead.get("/api/l2/escalated").json()["items"]]
        assert "disputed" in escalated
        history = lead.get("/api/l2/items/disputed/history").json()["labels"]
        assert [(event["reviewer"], event["verdict"]) for event in history] == [("ben", "correct")]
        decided = lead.post("/api/items/disputed/labels", json={"verdict": "incorrect", "error_steps": [1],
                                                                 "request_id": "l2-decide-0001"})
        assert decided.status_code == 201
        assert decided.json()["status"] == "final"


def test_level1_does_not_see_other_labels_in_double_review(server: Server):
    with server.client("ana") as ana:
        assert ana.post("/api/items/double-1/labels", json={"verdict": "incorrect", "error_steps": [2],
                                                             "comment": "ana-secret-note"}).status_code == 201
    with server.client("ben") as ben:
        item = ben.get("/api/items/double-1").json()["item"]
        assert item["history"] == []
        assert item["status"] == "pending"
        assert "ana-secret-note" not in json.dumps(item)
    client, _ = signed_in(server, "ben")
    html = client.get("/items/double-1").text
    assert "ana-secret-note" not in html
    assert 'id="history"' not in html
    with server.client("ben") as ben:
        # Blind double review: the first label's disagreement shows only after the second one.
        assert ben.post("/api/items/double-1/labels", json={"verdict": "correct"}).json()["status"] == "escalated"


def test_submission_idempotent_by_request_id(server: Server):
    body = {"verdict": "correct", "request_id": "idem-0000-0001", "seconds_spent": 3}
    with server.client("cy") as cy:
        triplet_id = cy.get("/api/next").json()["item"]["triplet_id"]
        first = cy.post(f"/api/items/{triplet_id}/labels", json=body)
        again = cy.post(f"/api/items/{triplet_id}/labels", json=body)
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.json() == first.json() | {"replayed": True}
        # Another item with the same request id is a conflict, not a silent replay.
        other = cy.get("/api/next").json()["item"]["triplet_id"]
        assert cy.post(f"/api/items/{other}/labels", json=body).status_code == 409
        # Without a request id, a second label on the same item is refused.
        assert cy.post(f"/api/items/{triplet_id}/labels", json={"verdict": "correct"}).status_code == 409
    with server.client("lead") as lead:
        history = lead.get(f"/api/l2/items/{triplet_id}/history").json()["labels"]
    assert [event["reviewer"] for event in history].count("cy") == 1


def test_invalid_labels_rejected(server: Server):
    with server.client("ana") as ana:
        triplet_id = ana.get("/api/next").json()["item"]["triplet_id"]
        for body in ({"verdict": "maybe"}, {"verdict": "correct", "error_steps": [1]},
                     {"verdict": "incorrect", "error_steps": [99]}, {"verdict": "incorrect", "error_type": "typo"},
                     {"verdict": "correct", "seconds_spent": -1}, {"verdict": "correct", "extra": 1}):
            response = ana.post(f"/api/items/{triplet_id}/labels", json=body)
            assert response.status_code in (400, 422), body
        assert ana.post("/api/items/no-such-item/labels", json={"verdict": "correct"}).status_code == 404


def test_drafts_survive_and_next_resumes_them(server: Server):
    with server.client("ben") as ben:
        triplet_id = ben.get("/api/next").json()["item"]["triplet_id"]
        draft = {"verdict": "incorrect", "error_steps": [3, 1], "error_type": "sign_error", "comment": "half done"}
        assert ben.put(f"/api/drafts/{triplet_id}", json={"draft": draft, "seconds": 12.5}).status_code == 200
        # The next item a reviewer gets is the one they left unfinished, with its draft.
        resumed = ben.get("/api/next").json()["item"]
        assert resumed["triplet_id"] == triplet_id
        assert resumed["draft"] == draft | {"error_steps": [1, 3]}
        assert resumed["draft_seconds"] == 12.5
        assert ben.put(f"/api/drafts/{triplet_id}", json={"draft": {"verdict": "perhaps"}}).status_code == 400
        assert ben.post(f"/api/items/{triplet_id}/labels", json={"verdict": "correct", "seconds_spent": 20}
                        ).status_code == 201
        assert ben.get("/api/next").json()["item"]["triplet_id"] != triplet_id
    with sqlite3.connect(server.store) as conn:
        assert conn.execute("SELECT COUNT(*) FROM drafts WHERE triplet_id = ?", (triplet_id,)).fetchone()[0] == 0
        seconds = conn.execute("SELECT seconds_spent FROM labels WHERE triplet_id = ? AND reviewer_id = 'ben'",
                               (triplet_id,)).fetchone()[0]
    # Time per item: the client's count, capped by the time since the reviewer first opened the item.
    assert 0 <= seconds <= 20


def test_concurrent_reviewers_get_different_items(server: Server):
    with server.client("ana") as ana, server.client("cy") as cy:
        first = ana.get("/api/next").json()["item"]
        second = cy.get("/api/next").json()["item"]
    if first and second:
        assert first["triplet_id"] != second["triplet_id"]


def test_stats_and_exports(server: Server):
    import pyarrow.parquet as pq

    with server.client("lead") as lead:
        stats = lead.get("/api/stats").json()
        assert {"queue_depth", "throughput", "kappa", "escalation_rate", "reviewers"} <= set(stats)
        assert {"gold_accuracy", "kappa", "median_seconds"} <= set(stats["reviewers"]["ana"])
        jsonl = lead.get("/export", params={"format": "jsonl"})
        parquet = lead.get("/export", params={"format": "parquet"})
        page = lead.get("/stats")
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == len(records) == stats["status"]["final"] > 0
    assert set(table.column("triplet_id").to_pylist()) == {record["triplet_id"] for record in records}
    assert {"reviewers", "comments", "agreement", "final_verdict"} <= set(table.column_names)
    assert "Cohen" in page.text
    assert 'id="reviewer-stats"' in page.text
