"""`reprolab review` commands: tokens from add-reviewer, stats with kappa and gold accuracy, both exports."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from flows.cli import main
from tests.review.helpers import make_triplet


def test_review_commands(tmp_path, capsys):
    from components.review.service import ReviewService

    store = tmp_path / "review.db"
    assert main(["review", "--store", str(store), "add-reviewer", "ana"]) == 0
    token = capsys.readouterr().out.split("sign-in token (shown once, only its hash is stored): ")[1].strip()
    assert main(["review", "--store", str(store), "add-reviewer", "ben", "--no-token"]) == 0
    assert "token" not in capsys.readouterr().out
    assert main(["review", "--store", str(store), "add-reviewer", "lead", "--level", "2"]) == 0
    capsys.readouterr()

    with ReviewService(store) as service:
        assert service.authenticate_token(token).reviewer_id == "ana"
        service.enqueue([make_triplet("d1"), make_triplet("d2")], reason="double", reviews_required=2)
        service.enqueue([make_triplet("g1")], reason="gold", gold=True)
        for item in ("d1", "d2"):
            service.submit(item, "ana", "correct", seconds_spent=5)
        service.submit("d1", "ben", "correct")
        service.submit("d2", "ben", "incorrect", error_steps=[1])
        service.submit("d2", "lead", "correct", comment="fine")
        service.submit("g1", "ben", "correct")

    assert main(["review", "--store", str(store), "stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["kappa"]["items"] == 2
    assert stats["reviewers"]["ben"]["gold_accuracy"] == 1.0
    assert main(["review", "--store", str(store), "stats", "--table"]) == 0
    table = capsys.readouterr().out
    assert "Cohen's kappa on 2 double-reviewed item(s)" in table and "gold acc" in table

    assert main(["review", "--store", str(store), "export", "--out", str(tmp_path / "final.parquet")]) == 0
    assert pq.read_table(tmp_path / "final.parquet").num_rows == 3
    assert main(["review", "--store", str(store), "export", "--out", str(tmp_path / "x.out"), "--format", "jsonl"]) == 0
    assert len((tmp_path / "x.out").read_text().splitlines()) == 3
    assert main(["review", "--store", str(store), "migrate"]) == 0
    assert "revision 0002" in capsys.readouterr().out
    assert main(["review", "--store", str(tmp_path / "absent.db"), "stats"]) == 2
