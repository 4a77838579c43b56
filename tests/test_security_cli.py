"""CLI: gridshield n1 / nk / rank / protect from the shell, machine-readable outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import gridshield as gs
from gridshield.security.nk import worst_case


def run(*args):
    return subprocess.run([sys.executable, "-m", "gridshield", *args], capture_output=True, text=True, timeout=300)


def test_cli_security_commands(tmp_path):
    out = tmp_path / "nk.json"
    res = run("nk", "case14", "-k", "2", "--method", "enumerate", "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    d = json.loads(out.read_text())
    ref = worst_case(gs.load_case("case14"), k=2, method="enumerate")
    assert d["shed_mw"] == pytest.approx(ref.shed_mw) and d["optimal"] is True
    out = tmp_path / "n1.csv"
    res = run("n1", "case14", "--elements", "branches,gens", "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "N-1 on case14" in res.stdout and out.read_text().count("\n") == 1 + 20 + 5
    costs = tmp_path / "c.csv"
    costs.write_text("asset,cost_usd\ngen:1,1e6\n")
    out = tmp_path / "plan.json"
    res = run("protect", "case14", "--budget", "3e6", "--costs", str(costs), "-k", "1", "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    d = json.loads(out.read_text())
    assert d["total_cost_usd"] <= 3e6 and d["worst_case_mw"] <= d["unprotected_worst_case_mw"]
    out = tmp_path / "rank.json"
    res = run("rank", "case14", "--elements", "branches,gens", "--k-max", "1", "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(json.loads(out.read_text())["assets"]) == 25
    res = run("nk", "case14", "-k", "2", "--candidates", "branch:999")
    assert res.returncode == 2 and "branch:999" in res.stderr


def test_cli_n1_ac_verify(tmp_path):
    from gridshield.security.ac import ac_security

    out = tmp_path / "ac.json"
    res = run("n1", "synthetic-city", "--ac-verify", "--elements", "branches,sites,site-pairs", "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "AC security analysis on" in res.stdout and "Worst contingencies" in res.stdout
    d = json.loads(out.read_text())
    api = ac_security(gs.load_case("synthetic-city"), ("branches", "sites", "site-pairs"))
    assert [c["id"] for c in d["contingencies"]] == list(api.ids)
    assert [c["status"] for c in d["contingencies"]] == list(api.status)
    assert d["summary"]["thermal"] == int(api.thermal.sum()) and d["summary"]["q_limits"] is True
    pq = tmp_path / "ac.parquet"
    res = run("n1", "synthetic-city", "--ac-verify", "--elements", "site-pairs", "--sample", "20", "--rating", "b",
              "--no-q-limits", "--out", str(pq))
    assert res.returncode == 0, res.stdout + res.stderr
    import pandas as pd

    df = pd.read_parquet(pq)
    assert len(df) == 20 and set(df.kind) == {"site-pair"} and "vm_min_bus" in df.columns
    res = run("n1", "synthetic-city", "--elements", "site-pairs")
    assert res.returncode == 2 and "--ac-verify" in res.stderr and "Traceback" not in res.stderr
    res = run("n1", "case2869pegase", "--ac-verify", "--elements", "site-pairs")
    assert res.returncode == 2 and "--sample" in res.stderr
