"""``bptt demo`` chains nback, charlm and match and reports their numbers."""

import json

import pytest

from bptt.__main__ import main
from bptt.experiments.demo import run_demo

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")


def test_quick_demo_runs_all_three(tmp_path, capsys, monkeypatch):
    # A smaller charlm still: this checks the chaining, not the model quality.
    monkeypatch.setattr("bptt.experiments.demo.QUICK",
                        {"hidden": 16, "steps": 6, "chunk": 20, "batch": 4, "eval_every": 3,
                         "sample_every": 3, "checkpoint_every": 3})
    summary = run_demo(tmp_path, quick=True, progress=False)
    assert summary["nback_final_loss"] < 0.05
    assert summary["charlm_held_out_nats_per_char"] > 0
    assert 0 <= summary["match_mean_length"] <= 100
    names = sorted(p.split("/")[-2] + "/" + p.split("/")[-1] for p in summary["plots"])
    assert names == ["charlm/loss.png", "match/match.png", "nback/loss.png"]
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert "Plots to look at" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["demo", "check"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: bptt " + command in capsys.readouterr().out
