"""The review CLI and web service over a PostgreSQL store: a real server process and a real database on 127.0.0.1.

The store URL carries no password; libpq reads it from PGPASSWORD, as the
documentation recommends. The rest of the API is tested on SQLite in
test_review_api.py; the store's rules are tested on both back ends in tests/unit.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.review.helpers import PROJECT_ROOT, Server, free_port, make_triplet, seeded_store


@pytest.fixture
def pg_store(postgres_cluster, monkeypatch) -> str:
    name = f"review_{uuid.uuid4().hex[:8]}"
    postgres_cluster.create_database(name)
    monkeypatch.setenv("PGPASSWORD", postgres_cluster.password)
    yield postgres_cluster.url(name, password=False)
    postgres_cluster.drop_database(name)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli", "review", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_cli_and_web_service_on_postgres(pg_store: str, postgres_cluster, tmp_path):
    created = cli("--store", pg_store, "add-reviewer", "ana", "--name", "Ana")
    assert created.returncode == 0, created.stderr
    token = created.stdout.split("sign-in token (shown once, only its hash is stored): ")[1].strip()
    tokens = seeded_store(pg_store, {"lead": 2}, [(make_triplet(f"item-{n}", precheck="correct"), {})
                                                  for n in range(3)])
    tokens["ana"] = token

    server = Server(store=pg_store, port=free_port(), log=tmp_path / "server.log", tokens=tokens)
    server.start()
    try:
        with server.client("ana") as ana:
            item = ana.get("/api/next").json()["item"]
            assert item["triplet_id"] == "item-0"
            response = ana.post(f"/api/items/{item['triplet_id']}/labels",
                                json={"verdict": "correct", "comment": "fine", "seconds_spent": 12.25,
                                      "request_id": "req-0001"})
            assert response.status_code == 201, response.text
            assert response.json()["status"] == "final"
            # A retried submission returns the first result from the submissions table.
            again = ana.post(f"/api/items/{item['triplet_id']}/labels",
                             json={"verdict": "correct", "comment": "fine", "request_id": "req-0001"})
            assert again.status_code in (200, 201)
            assert again.json()["replayed"] is True
            assert ana.get("/api/next").json()["item"]["triplet_id"] == "item-1"
        with server.client("lead") as lead:
            assert lead.get("/api/next").json()["item"] is None  # nothing escalated
    finally:
        server.stop()

    stats = cli("--store", pg_store, "stats")
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert figures["labels"] == 1
    assert figures["status"] == {"pending": 2, "escalated": 0, "final": 1}
    # The client's count, capped by the wall-clock time since ana first opened the item.
    assert 0 < figures["reviewers"]["ana"]["seconds_spent"] <= 12.25

    out = tmp_path / "final.jsonl"
    exported = cli("--store", pg_store, "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["triplet_id"], r["decided_by"], r["comments"][0]["comment"]) for r in records] == [
        ("item-0", "ana", "fine")
    ]

    import psycopg

    with psycopg.connect(postgres_cluster.url(pg_store.rsplit("/", 1)[1])) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM reviewer_tokens")]
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored


def test_cli_never_prints_the_password(postgres_cluster, pg_store: str):
    with_password = postgres_cluster.url(pg_store.rsplit("/", 1)[1])
    migrated = cli("--store", with_password, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "reprolab:***@127.0.0.1" in migrated.stdout
    assert postgres_cluster.password not in migrated.stdout + migrated.stderr

    unreachable = with_password.replace(f":{postgres_cluster.port}/", f":{free_port()}/")
    failed = cli("--store", unreachable, "stats")
    assert failed.returncode == 2
    assert "cannot connect to the PostgreSQL review store" in failed.stderr
    assert postgres_cluster.password not in failed.stdout + failed.stderr

    serve = cli("--store", unreachable, "serve", "--port", str(free_port()))
    assert serve.returncode == 2
    assert "cannot connect" in serve.stderr


def test_service_answers_503_while_database_down(tmp_path, monkeypatch):
    """With PostgreSQL stopped, requests get a short 503 (JSON for the API) and the log one line each."""
    from components.review.testing import PostgresCluster

    with PostgresCluster(durable=False) as cluster:
        cluster.create_database("outage")
        monkeypatch.setenv("PGPASSWORD", cluster.password)
        store = cluster.url("outage", password=False)
        tokens = seeded_store(store, {"ana": 1}, [(make_triplet("item-0", precheck="correct"), {})])
        server = Server(store=store, port=free_port(), log=tmp_path / "server.log", tokens=tokens)
        server.start()
        try:
            with server.client("ana") as ana:
                assert ana.get("/api/next").status_code == 200
                cluster.shutdown()
                down = ana.get("/api/next")
                assert down.status_code == 503
                assert down.json() == {"error": "the review store is unavailable; try again in a moment"}
                assert down.headers["retry-after"] == "5"
                page = ana.get("/queue", headers={"accept": "text/html"})
                assert page.status_code == 503
                cluster.launch()
                back = ana.get("/api/next")
                assert back.status_code == 200
                assert back.json()["item"]["triplet_id"] == "item-0"
        finally:
            server.stop()
        log = (tmp_path / "server.log").read_text()
        assert "Traceback" not in log
        # One line per failed request: the API call and the page.
        errors = [line for line in log.splitlines() if line.startswith("ERROR")]
        assert [line.split(" failed: ")[0] for line in errors] == [
            "ERROR components.review.web.app: GET /api/next",
            "ERROR components.review.web.app: GET /queue",
        ], log


def test_bad_label_bodies_rejected_without_echo(pg_store: str, tmp_path):
    tokens = seeded_store(pg_store, {"ana": 1}, [(make_triplet("item-0", precheck="correct"), {})])
    server = Server(store=pg_store, port=free_port(), log=tmp_path / "server.log", tokens=tokens)
    server.start()
    try:
        with server.client("ana") as ana:
            nul = ana.post("/api/items/item-0/labels", json={"verdict": "correct", "comment": "nul\u0000here"})
            assert nul.status_code == 400
            assert "NUL" in nul.json()["error"]
            huge = ana.post("/api/items/item-0/labels", json={"verdict": "correct", "comment": "y" * 20_000})
            assert huge.status_code == 422
            assert huge.json()["details"][0]["field"] == "body.comment"
            assert "yyyy" not in huge.text
            bad_id = ana.post("/api/items/item-0/labels", json={"verdict": "correct", "request_id": "req\u0000-0001"})
            assert bad_id.status_code == 422
            assert bad_id.json()["details"][0]["field"] == "body.request_id"
    finally:
        server.stop()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
