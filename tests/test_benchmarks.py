"""The benchmark and reproduction scripts' arithmetic and verdicts (no training, no timing)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_train  # noqa: E402
import reproduce  # noqa: E402


def test_flops_per_token_counts_the_books_matmuls():
    V = 28
    # GRU h=256: forward 3 gates x 2 x 256 x (28 + 256) + output 2 x 256 x 28; x3 for training, less dX of one-hot
    gru = 3 * (3 * 2 * 256 * (V + 256) + 2 * 256 * V) - 3 * 2 * 256 * V
    assert bench_train.flops_per_token("scratch GRU h=256", V) == gru == 1_308_672
    assert bench_train.flops_per_token("nn.GRU h=256", V) == gru
    rnn = 3 * (2 * 512 * (V + 512) + 2 * 512 * V) - 2 * 512 * V
    assert bench_train.flops_per_token("scratch RNN h=512", V) == rnn
    lstm = 3 * (4 * 2 * 256 * (V + 256) + 4 * 2 * 256 * 512 + 2 * 256 * V) - 4 * 2 * 256 * V
    assert bench_train.flops_per_token("nn.LSTM 2x256", V) == lstm


def test_markdown_section_is_replaced_between_markers(tmp_path):
    doc = tmp_path / "performance.md"
    bench_train.write_markdown(doc, "first table")
    assert "first table" in doc.read_text()
    doc.write_text("# Title\n\nprose before\n\n" + doc.read_text().split("\n", 2)[2] + "\nprose after\n")
    bench_train.write_markdown(doc, "second table")
    text = doc.read_text()
    assert "second table" in text and "first table" not in text
    assert text.startswith("# Title\n\nprose before") and text.rstrip().endswith("prose after")


def _result(ppl):
    return {
        "perplexity": [20.0, ppl],
        "tokens_per_sec": [1000.0, 1200.0],
        "heldout_epochs": [2],
        "heldout_perplexity": [5.0],
        "fast_path": "scratch GRU kernel",
        "wall_s": 60.0,
        "peak_rss_mb": 270.0,
        "samples": ["time traveller x", "traveller x"],
    }


@pytest.mark.parametrize("ppl, fails", [(1.1, False), (1.3, False), (1.31, True), (3.0, True)])
def test_reproduction_fails_above_the_books_perplexity_plus_tolerance(ppl, fails):
    failed = reproduce.failures({"gru_scratch": _result(ppl)})  # the book: 1.1
    assert bool(failed) == fails
    if fails:
        assert "scratch GRU h=256" in failed[0] and "> book 1.1 + 0.2" in failed[0]


def test_reproduction_report_has_a_verdict_per_configuration():
    results = {"gru_scratch": _result(1.05), "rnn_random": _result(2.5)}
    text = reproduce.report(results, reproduce.EPOCHS, 1, 0.5, 600.0, "reproduction.png")
    assert "| scratch GRU h=256 | zh §9.1 | 1.1 | 1.05 |" in text and "| ok |" in text
    assert "**FAILED**" in text  # the random-sampling RNN: 2.5 > 1.5 + 0.2
    assert "time travelleryou can show black is white" in text  # the book's sample, for comparison
    short = reproduce.report(results, 20, 1, 0.5, 60.0, "reproduction.png")
    assert "no verdict" in short and "FAILED" not in short


def test_bench_en_summary_takes_medians_ratios_and_the_largest_loss_difference():
    import bench_en

    def run(side, seconds, cpu, ppl):
        return {"side": side, "model": "RNNLM(GRU)", "seconds": seconds, "cpu": cpu, "points": {"train_ppl": ppl}}

    results = [
        run("upstream", 9.0, 8.0, [10.0, 5.0]),
        run("upstream", 12.0, 6.0, [10.0, 5.0]),
        run("upstream", 30.0, 10.0, [10.0, 5.0]),
        run("ours", 4.0, 2.0, [10.0, 5.0]),
        run("ours", 8.0, 4.0, [10.0, 5.001]),
        run("ours", 6.0, 4.0, [10.0, 5.0]),
    ]
    ((name, up, ours, ratio, cpu, diff, ok),) = bench_en.summarise(results)
    assert (name, up, ours, ratio, cpu) == ("RNNLM(GRU)", 12.0, 6.0, 2.0, 2.0)
    assert diff == pytest.approx(0.001 / 5.0) and ok
    assert bench_en.max_relative_difference({"a": [1.0]}, {"a": [1.0, 2.0]}) == float("inf")
    slow = [run("upstream", 10.0, 10.0, [1.0]), run("ours", 8.0, 8.0, [1.0])]
    assert not bench_en.summarise(slow)[0][-1]  # 1.25x misses the 1.5x target
    assert "MISSED" in bench_en.table(bench_en.summarise(slow), 5, 1, 1)


def test_sweep_100_records_each_executor_and_compares_their_perplexities(tmp_path):
    import sweep_100

    def run(ppl):
        configs = [{"num_steps": 8, "num_hiddens": 8, "lr": lr, "num_epochs": 100, "perplexity": p} for lr, p in ppl]
        return {"wall_s": 1.0, "configurations": configs}

    out = tmp_path / "sweep_100.json"
    sweep_100.write_out(out, run([(0.1, 20.0), (1.0, 10.0)]), "local")
    first = json.loads(out.read_text())
    assert first["comparison"] is None and list(first) == ["local", "comparison"]
    sweep_100.write_out(out, run([(1.0, 10.0), (0.1, 20.2)]), "dask")  # matched by parameters, not by order
    both = json.loads(out.read_text())
    assert set(both) == {"local", "dask", "comparison"} and both["local"] == first["local"]
    comparison = both["comparison"]
    assert comparison["configurations_compared"] == 2 and not comparison["identical"]
    assert comparison["max_relative_difference"] == pytest.approx(0.2 / 20.2)
    sweep_100.write_out(out, run([(0.1, 20.0), (1.0, 10.0)]), "dask")  # a second dask run replaces the first
    assert json.loads(out.read_text())["comparison"]["identical"]
    assert not list(tmp_path.glob("*.tmp"))  # written whole, then renamed


def test_sweep_100_refuses_a_results_file_it_did_not_write(tmp_path):
    import sweep_100

    out = tmp_path / "sweep_100.json"
    out.write_text("[1, 2, 3]")
    with pytest.raises(SystemExit, match="not a results file"):
        sweep_100.write_out(out, {"configurations": []}, "local")
    assert out.read_text() == "[1, 2, 3]"  # left as it was


def test_the_committed_sweep_100_record_backs_notebook_05_and_the_readme():
    # docs/sweep_100.json is the run behind 05's 100-configuration table and the README's: both executors, the
    # whole grid at 100 epochs, the same final perplexities, and the timings the two texts quote
    import itertools
    import math
    import re

    import nbformat
    import sweep_100

    root = Path(__file__).resolve().parents[1]
    record = json.loads((root / "docs" / "sweep_100.json").read_text())
    grid = sorted(itertools.product(*sweep_100.GRID.values()))
    for executor in ("local", "dask"):
        run = record[executor]
        assert run["epochs"] == 100 and run["failed"] == 0, executor
        configs = run["configurations"]
        assert sorted((c["num_steps"], c["num_hiddens"], c["lr"]) for c in configs) == grid, executor
        assert all(c["status"] == "ok" and c["num_epochs"] == 100 for c in configs), executor
    comparison = sweep_100.compare(record)  # recomputed from the configurations, not read from the file
    assert comparison == record["comparison"] and comparison["identical"]
    assert comparison["configurations_compared"] == 100
    notebook = nbformat.read(root / "notebooks" / "05_gru_exercises.ipynb", as_version=4)
    (section,) = [c.source for c in notebook.cells if c.get("id") == "7b41d9e0"]
    readme = (root / "README.md").read_text()
    for text in (section, readme):
        flat = " ".join(text.split())  # the README wraps its lines
        for executor in ("local", "dask"):
            for key in ("wall_s", "worker_s"):  # quoted to the second, half up (the file keeps one decimal)
                seconds = math.floor(record[executor][key] + 0.5)
                assert re.search(rf"(?<![\d.,]){seconds} s\b", flat), (executor, key)
