"""Store locations (paths and URLs), password masking, and the PostgreSQL connection of the review store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from components.errors import InputError
from components.review.database import (
    Row,
    StoreTarget,
    StoreUnavailable,
    has_password,
    mask_password,
    parse_target,
    to_pyformat,
)
from components.review.store import ReviewStore
from tests.unit.test_review_store import make_triplet

# -- locations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("review.db", StoreTarget(path=Path("/home/review.db"))),
        ("/srv/q.db", StoreTarget(path=Path("/srv/q.db"))),
        ("sqlite:///rel/q.db", StoreTarget(path=Path("/home/rel/q.db"))),
        ("sqlite:////srv/q.db", StoreTarget(path=Path("/srv/q.db"))),
        ("postgresql://rev@127.0.0.1:5433/review", StoreTarget(url="postgresql://rev@127.0.0.1:5433/review")),
        ("postgres://rev@localhost/review", StoreTarget(url="postgresql://rev@localhost/review")),
        ("postgresql+psycopg://rev@localhost/review", StoreTarget(url="postgresql://rev@localhost/review")),
        ("POSTGRESQL://rev@localhost/review", StoreTarget(url="postgresql://rev@localhost/review")),
        # No host: libpq connects through the local Unix socket.
        ("postgresql:///review", StoreTarget(url="postgresql:///review")),
        ("postgresql://rev:p%2Fss@h/db", StoreTarget(url="postgresql://rev:p%2Fss@h/db")),
    ],
)
def test_parse_target(value: str, expected: StoreTarget):
    assert parse_target(value, base=Path("/home")) == expected


def test_parse_target_keeps_path_objects_and_targets():
    assert parse_target(Path("q.db")) == StoreTarget(path=Path("q.db"))
    target = StoreTarget(url="postgresql://a@h/db")
    assert parse_target(target) is target


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("mysql://user@host/db", r"field 'store': review store URL scheme 'mysql' is not supported"),
        ("postgresql://user@host:port/db", r"not a valid postgresql:// URL: its host or port cannot be read"),
        ("postgresql://user@[::1:5432/db", r"not a valid postgresql:// URL"),
        ("sqlite://relative.db", r"not an SQLite URL"),
        ("   ", r"the review store is empty"),
    ],
)
def test_parse_target_rejects(value: str, pattern: str):
    with pytest.raises(InputError, match=pattern):
        parse_target(value)


@pytest.mark.parametrize("url", ["postgresql://rev:Pw1#Xk2", "postgresql://rev:Pw1/Xk2", "postgresql://rev:Pw1"])
def test_password_without_host_not_shown(url: str):
    """Without an `@`, a password reads as a port; the error must not print it."""
    with pytest.raises(InputError, match="not a valid postgresql:// URL") as caught:
        parse_target(url)
    assert "Pw1" not in str(caught.value)


@pytest.mark.parametrize("password", ["Sec/ret9", "Sec#ret9", "Sec?ret9", "Sec@ret9", "Sec ret9"])
def test_unencoded_password_characters_rejected(password: str):
    url = f"postgresql://review:{password}@127.0.0.1:5432/review"
    assert mask_password(url) == "postgresql://review:***@127.0.0.1:5432/review"
    assert has_password(url)
    with pytest.raises(InputError, match="must be percent-encoded") as caught:
        parse_target(url)
    assert password not in str(caught.value)
    assert "ret9" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://rev:s3cret@h:5432/db", "postgresql://rev:***@h:5432/db"),
        ("postgresql://rev:p%40ss@h/db?sslmode=require", "postgresql://rev:***@h/db?sslmode=require"),
        ("postgresql://rev@h/db?password=s3cret&sslmode=disable", "postgresql://rev@h/db?password=***&sslmode=disable"),
        ("postgresql://rev@h/db?PASSWORD=Upper6", "postgresql://rev@h/db?PASSWORD=***"),
        ("postgresql:///db", "postgresql:///db"),
        ("postgresql://rev@h/db", "postgresql://rev@h/db"),
    ],
)
def test_mask_password(url: str, masked: str):
    assert mask_password(url) == masked
    assert has_password(url) == (url != masked)
    assert str(StoreTarget(url=url)) == masked


def test_sqlalchemy_url_uses_psycopg3():
    assert StoreTarget(url="postgresql://a@h/db").sqlalchemy_url() == "postgresql+psycopg://a@h/db"
    assert StoreTarget(path=Path("/x/q.db")).sqlalchemy_url() == "sqlite:////x/q.db"


def test_to_pyformat_escapes_percent_signs():
    assert to_pyformat("SELECT '5%' WHERE a = ? AND b = ?") == "SELECT '5%%' WHERE a = %s AND b = %s"


def test_row_reads_by_position_and_name():
    row = Row((1, "x"), {"id": 0, "name": 1})
    assert (row[0], row["name"], row[-1]) == (1, "x", "x")
    assert dict(row) == {"id": 1, "name": "x"}
    assert row == (1, "x")
    with pytest.raises(KeyError):
        row["missing"]


def test_config_accepts_urls_without_passwords_only():
    from flows.config import ReviewConfig, load_config

    assert ReviewConfig(store="postgresql://rev@127.0.0.1/review").store == "postgresql://rev@127.0.0.1/review"
    assert ReviewConfig(store=Path("q.db")).store == "q.db"
    with pytest.raises(InputError, match="contains a password") as caught:
        load_config("proof-rm", "smoke", ["review.store=postgresql://rev:topsecret@127.0.0.1/review"])
    assert "topsecret" not in str(caught.value)
    assert "rev:***@127.0.0.1" in str(caught.value)
    with pytest.raises(InputError, match="scheme 'redis' is not supported"):
        load_config("proof-rm", "smoke", ["review.store=redis://127.0.0.1/0"])


# -- PostgreSQL connections ------------------------------------------------------------------


def test_unreachable_server_input_error(postgres_cluster):
    from components.review.testing import free_port

    url = f"postgresql://reprolab:{postgres_cluster.password}@127.0.0.1:{free_port()}/review"
    with pytest.raises(InputError, match=r"cannot connect to the PostgreSQL review store") as caught:
        ReviewStore(url, timeout=2)
    assert postgres_cluster.password not in str(caught.value)
    assert "reprolab:***@127.0.0.1" in str(caught.value)


def test_wrong_password_is_an_input_error(postgres_url: str):
    wrong = postgres_url.replace(":" + postgres_url.split(":")[2].split("@")[0] + "@", ":not-the-password@")
    assert wrong != postgres_url
    with pytest.raises(InputError, match=r"password authentication failed") as caught:
        ReviewStore(wrong, timeout=2)
    assert "not-the-password" not in str(caught.value)


def test_password_from_pgpassword(postgres_cluster, postgres_url: str, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", postgres_cluster.password)
    without = postgres_url.replace(f":{postgres_cluster.password}@", "@")
    assert postgres_cluster.password not in without
    with ReviewStore(without) as store:
        assert store.add_reviewer("alice") is True
        assert store.location == without


def test_store_reconnects_after_the_server_drops_its_connection(postgres_url: str):
    import psycopg

    with ReviewStore(postgres_url) as store:
        store.add_reviewer("alice")
        store.enqueue([make_triplet("a")], reason="sample")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'reprolab-review' AND datname = current_database()"
            ).fetchall()
        assert ended == [(True,)]
        # The next transaction finds the connection gone, opens a new one, and goes on.
        assert store.submit("a", "alice", "correct") == "final"
        assert store.final_ids() == {"a"}


def test_writers_wait_for_the_write_lock(postgres_url: str):
    """A write transaction holds the store's advisory lock until it ends, so a second writer waits."""
    with ReviewStore(postgres_url) as first, ReviewStore(postgres_url, timeout=30) as second:
        first.add_reviewer("alice")
        entered, finished = threading.Event(), []

        def hold_lock() -> None:
            with first._transaction(write=True):
                entered.set()
                time.sleep(1.0)

        holder = threading.Thread(target=hold_lock)
        holder.start()
        entered.wait(10)
        started = time.monotonic()
        second.add_reviewer("bob")
        finished.append(time.monotonic() - started)
        holder.join(10)
    assert finished[0] >= 0.5


def test_write_lock_timeout_raises(postgres_url: str):
    with ReviewStore(postgres_url) as first, ReviewStore(postgres_url, timeout=0.3) as second:
        with first._transaction(write=True):
            with pytest.raises(StoreUnavailable, match="lock timeout"):
                second.add_reviewer("bob")
        # The failed transaction was rolled back, and the store goes on working.
        assert second.add_reviewer("bob") is True


def test_server_outage_unavailable_then_recovers():
    """While the server is down the store raises StoreUnavailable; once it is back, the store reconnects."""
    from components.review.testing import PostgresCluster

    with PostgresCluster(durable=False) as cluster:
        url = cluster.create_database("outage")
        with ReviewStore(url, timeout=2) as store:
            store.add_reviewer("alice")
            cluster.shutdown()
            with pytest.raises(StoreUnavailable) as caught:
                store.stats()
            assert cluster.password not in str(caught.value)
            cluster.launch()
            assert store.add_reviewer("bob") is True
            assert set(store.stats()["labels_per_reviewer"]) == {"alice", "bob"}


def test_user_rights_error_then_grant(postgres_cluster, postgres_url: str):
    """PostgreSQL 15 lets only the owner create tables in `public`; the error names the rights, which suffice."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS reviewer_app")
        admin.execute("CREATE ROLE reviewer_app LOGIN PASSWORD 'app-secret'")
    limited = f"postgresql://reviewer_app:app-secret@127.0.0.1:{postgres_cluster.port}/{postgres_url.rsplit('/', 1)[1]}"
    try:
        with pytest.raises(InputError, match=r"may not create or change the review tables") as caught:
            ReviewStore(limited)
        assert "GRANT CREATE ON SCHEMA public" in str(caught.value)
        assert "app-secret" not in str(caught.value)
        # Once the owner has created the store, the user still may not read it, and gets the same error.
        with ReviewStore(postgres_url):
            pass
        with pytest.raises(InputError, match=r"may not create or change the review tables"):
            ReviewStore(limited)
        # The rights the message names are enough to review on the owner's store.
        with ReviewStore(postgres_url) as owner:
            owner.add_reviewer("alice")
            owner.enqueue([make_triplet("a")], reason="sample")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO reviewer_app")
        with ReviewStore(limited) as store:
            assert store.submit("a", "alice", "correct") == "final"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("DROP OWNED BY reviewer_app")
            admin.execute("DROP ROLE reviewer_app")
