"""``bptt params`` (seed 004, question 2): the one-bias counts follow the
formulas, the two-bias counts equal torch's ``sum(p.numel())`` and
``bptt.count_parameters``; the command line prints a table or JSON and
writes the same counts to result.json."""

from __future__ import annotations

import itertools
import json

import pytest

import bptt
from bptt.__main__ import main
from bptt.experiments.params import parameter_counts

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
GRID = list(itertools.product([1, 3, 10], [1, 4, 20], [1, 2], [False, True]))


@pytest.mark.parametrize("n, h", [(1, 1), (3, 4), (10, 20), (7, 2)])
def test_one_layer_counts_follow_the_formulas(n, h):
    counts = parameter_counts(n, h)
    assert counts["rnn"]["total_one"] == h * (n + h) + h
    assert counts["lstm"]["total_one"] == 4 * (h * (n + h) + h)
    assert counts["gru"]["total_one"] == 3 * (h * (n + h) + h)
    for kind, G in GATES.items():
        c = counts[kind]
        assert c["gates"] == G
        assert c["weights"] == G * h * (n + h)
        assert c["biases_one"] == G * h and c["biases_torch"] == 2 * G * h
        assert c["total_torch"] == G * (h * (n + h) + 2 * h)


def test_worked_example():
    # docs/derivations.md, section 9: n = 10, h = 20
    counts = parameter_counts(10, 20)
    assert [counts[k]["total_one"] for k in ("rnn", "gru", "lstm")] == [620, 1860, 2480]
    assert [counts[k]["total_torch"] for k in ("rnn", "gru", "lstm")] == [640, 1920, 2560]


@pytest.mark.parametrize("n, h, layers, bidirectional", GRID)
def test_torch_layout_equals_torch_and_count_parameters(n, h, layers, bidirectional):
    torch = pytest.importorskip("torch")
    counts = parameter_counts(n, h, layers, bidirectional)
    modules = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    for kind, module in modules.items():
        layer = module(n, h, num_layers=layers, bidirectional=bidirectional)
        expected = sum(p.numel() for p in layer.parameters())
        assert counts[kind]["total_torch"] == expected, kind
        assert counts[kind]["total_torch"] == bptt.count_parameters(
            kind, n, h, num_layers=layers, bidirectional=bidirectional)
        no_bias = module(n, h, num_layers=layers, bidirectional=bidirectional, bias=False)
        assert counts[kind]["weights"] == sum(p.numel() for p in no_bias.parameters()), kind
        # one bias per gate block: half of torch's b_ih + b_hh
        assert counts[kind]["total_one"] == expected - counts[kind]["biases_torch"] // 2


def test_bptt_layers_hold_that_many_numbers():
    counts = parameter_counts(3, 5, 2, True)
    for kind, cls in (("rnn", bptt.RNN), ("lstm", bptt.LSTM), ("gru", bptt.GRU)):
        layer = cls(3, 5, num_layers=2, bidirectional=True, seed=0)
        assert sum(p.size for p in layer.parameters().values()) == counts[kind]["total_torch"]


def test_cli_table(tmp_path, capsys):
    assert main(["params", "--input", "10", "--hidden", "20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["RNN"][1:] == ["1", "600", "20", "620", "40", "640"]
    assert rows["LSTM"][1:] == ["4", "2400", "80", "2480", "160", "2560"]
    assert rows["GRU"][1:] == ["3", "1800", "60", "1860", "120", "1920"]


def test_cli_json(tmp_path, capsys):
    assert main(["params", "--input", "3", "--hidden", "4", "--layers", "2",
                 "--bidirectional", "--json", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["input_size"], data["hidden_size"], data["num_layers"]) == (3, 4, 2)
    assert data["bidirectional"] is True
    assert data["counts"] == parameter_counts(3, 4, 2, True)
    assert json.loads((tmp_path / "result.json").read_text()) == data


def test_cli_result_json_equals_torch(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    out = tmp_path / "new" / "dir"  # created as needed
    assert main(["params", "--input", "7", "--hidden", "5", "--seed", "3",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'result.json'}" in printed
    saved = json.loads((out / "result.json").read_text())
    assert (saved["input_size"], saved["hidden_size"], saved["num_layers"]) == (7, 5, 1)
    modules = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    for kind, module in modules.items():
        expected = sum(p.numel() for p in module(7, 5).parameters())
        assert saved["counts"][kind]["total_torch"] == expected, kind
        # the file holds what the table shows
        row = next(line.split() for line in printed.splitlines()
                   if line.startswith(kind.upper() + " "))
        assert row[-1] == str(expected), kind


def test_cli_seed_changes_nothing(tmp_path):
    for seed in (0, 1):
        assert main(["params", "--input", "2", "--hidden", "3", "--json", "--seed", str(seed),
                     "--out", str(tmp_path / str(seed))]) == 0
    assert ((tmp_path / "0" / "result.json").read_text()
            == (tmp_path / "1" / "result.json").read_text())


def test_cli_rejects_bad_sizes(tmp_path, capsys):
    assert main(["params", "--input", "0", "--hidden", "4", "--out", str(tmp_path)]) == 2
    assert "argument --input: must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "result.json").exists()


def test_cli_reports_an_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["params", "--input", "2", "--hidden", "3", "--out", str(blocker)]) == 2
    assert "argument --out:" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["params", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--input", "--hidden", "--layers", "--bidirectional", "--json", "--seed",
                 "--out"):
        assert flag in out, flag
    assert "unused" in out and "runs/params" in out
