"""parse_test_res.py: CoOp's command line and output on synthetic logs.

Expected numbers are computed by hand in each test: for 70, 72, 74 the mean
is 72, the population std sqrt(8/3) = 1.633 and the CI95
1.96 * 1.633 / sqrt(3) = 1.848.
"""
import os.path as osp
import subprocess
import sys

import pytest

import parse_test_res
from enprompt import logparse
from tests.paths import REPO
from tests.synthetic_logs import eval_log, train_log, unfinished_train_log, write


def run_parser(capsys, *argv):
    code = parse_test_res.main(parse_test_res.build_parser().parse_args([str(a) for a in argv]))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_seeds(folder, values, writer=train_log):
    for seed, value in enumerate(values, start=1):
        write(osp.join(folder, f"seed{seed}"), writer(value))


@pytest.mark.parametrize("end_signal", ["Finish training", "Finished training"])
def test_training_logs_with_either_end_signal(tmp_path, capsys, end_signal):
    make_seeds(tmp_path, [70.0, 72.0, 74.0], lambda v: train_log(v, end_signal=end_signal))
    code, out, _ = run_parser(capsys, tmp_path)
    assert code == 0
    for seed, value in [(1, "70.00"), (2, "72.00"), (3, "74.00")]:
        log = osp.join(tmp_path, f"seed{seed}", "log.txt")
        assert f"file: {log}. accuracy: {value}%. " in out
    assert f"===\nSummary of directory: {tmp_path}\n* accuracy: 72.00% +- 1.63%\n===" in out


def test_val_results_before_the_end_signal_are_ignored(tmp_path, capsys):
    write(osp.join(tmp_path, "seed1"), train_log(70.0, val_accuracy=11.0))
    _, out, _ = run_parser(capsys, tmp_path)
    assert "* accuracy: 70.00% +- 0.00%" in out


def test_ci95(tmp_path, capsys):
    make_seeds(tmp_path, [70.0, 72.0, 74.0])
    _, out, _ = run_parser(capsys, tmp_path, "--ci95")
    assert "* accuracy: 72.00% +- 1.85%" in out


def test_eval_logs_without_manifest_need_the_flag_and_each_folder_says_so(tmp_path, capsys):
    make_seeds(tmp_path, [60.0, 64.0], eval_log)
    code, out, err = run_parser(capsys, tmp_path)
    assert code == 1
    lines = err.splitlines()
    # the hint comes first, for each folder, not after a reason that misleads
    for seed, line in zip((1, 2), lines):
        assert line == (f"Not counted: {tmp_path / f'seed{seed}'}: its log holds the result of "
                        "an --eval-only run ('=> result' without 'Finish training'): read it "
                        "with --test-log")
    assert "interrupted or failed" not in err
    code, out, _ = run_parser(capsys, tmp_path, "--test-log")
    assert code == 0
    assert "* accuracy: 62.00% +- 2.00%" in out


def test_keyword(tmp_path, capsys):
    write(osp.join(tmp_path, "seed1"), eval_log(60.0, macro_f1=41.5))
    _, out, _ = run_parser(capsys, tmp_path, "--test-log", "--keyword", "macro_f1")
    assert "macro_f1: 41.50%." in out
    assert "* macro_f1: 41.50% +- 0.00%" in out


def test_multi_exp_averages_the_experiment_means(tmp_path, capsys):
    make_seeds(tmp_path / "dtd", [70.0, 72.0, 74.0], eval_log)
    make_seeds(tmp_path / "eurosat", [60.0, 62.0], eval_log)
    code, out, _ = run_parser(capsys, tmp_path, "--test-log", "--multi-exp")
    assert code == 0
    assert f"Summary of directory: {tmp_path / 'dtd'}\n* accuracy: 72.00% +- 1.63%" in out
    assert f"Summary of directory: {tmp_path / 'eurosat'}\n* accuracy: 61.00% +- 1.00%" in out
    assert out.rstrip().endswith("Average performance\n* accuracy: 66.50%")


def test_resumed_run_is_read_from_its_rerun_log(tmp_path, capsys):
    run = tmp_path / "seed1"
    write(run, unfinished_train_log())
    rerun = write(run, train_log(55.0), name="log.txt-2024-05-01-12-00-00")
    _, out, _ = run_parser(capsys, tmp_path)
    assert f"file: {rerun}. accuracy: 55.00%. " in out


def test_unfinished_seed_is_named_and_the_rest_summarised(tmp_path, capsys):
    make_seeds(tmp_path, [70.0, 74.0])
    write(tmp_path / "seed3", unfinished_train_log())
    code, out, err = run_parser(capsys, tmp_path)
    assert code == 0
    assert "* accuracy: 72.00% +- 2.00%" in out
    assert f"Not counted: {tmp_path / 'seed3'}: 1 log(s) without 'Finish training'" in err


def test_command_line(tmp_path):
    make_seeds(tmp_path, [70.0, 72.0, 74.0], eval_log)
    process = subprocess.run(
        [sys.executable, "parse_test_res.py", str(tmp_path), "--test-log"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    assert process.stdout.startswith(f"Parsing files in {tmp_path}\n")
    assert "* accuracy: 72.00% +- 1.63%" in process.stdout
    missing = subprocess.run(
        [sys.executable, "parse_test_res.py", str(tmp_path / "nope")],
        cwd=REPO, capture_output=True, text=True,
    )
    assert missing.returncode == 2
    assert "is not a directory" in missing.stderr


# --------------------------------------------------------------------------
# enprompt.logparse, the helpers shared with enprompt.results and the scripts
# --------------------------------------------------------------------------
def test_list_logs_orders_reruns_by_time(tmp_path):
    names = [
        "log.txt-2024-05-01-12-00-00-10",
        "log.txt-2024-05-02-08-00-00",
        "log.txt",
        "log.txt-2024-05-01-12-00-00",
        "log.txt-2024-05-01-12-00-00-2",
        "notes.txt",
    ]
    for name in names:
        write(tmp_path, "", name=name)
    assert [osp.basename(p) for p in logparse.list_logs(str(tmp_path))] == [
        "log.txt",
        "log.txt-2024-05-01-12-00-00",
        "log.txt-2024-05-01-12-00-00-2",
        "log.txt-2024-05-01-12-00-00-10",
        "log.txt-2024-05-02-08-00-00",
    ]


def test_find_result_takes_the_newest_finished_log(tmp_path):
    write(tmp_path, train_log(40.0))
    newest = write(tmp_path, train_log(45.0), name="log.txt-2024-05-01-12-00-00")
    write(tmp_path, unfinished_train_log(), name="log.txt-2024-05-02-12-00-00")
    assert logparse.find_result(str(tmp_path)) == (45.0, newest)
    assert logparse.find_result(str(tmp_path / "missing")) is None


def test_a_result_block_cut_before_its_accuracy_line_is_not_a_result(tmp_path):
    path = write(tmp_path, "Finish training\nDeploy the last-epoch model\n=> result\n* total: 10\n")
    assert logparse.parse_log(path) is None
    assert logparse.parse_log(path, test_log=True) is None


def test_logparse_command_line_exit_status(tmp_path):
    finished, unfinished = tmp_path / "a", tmp_path / "b"
    write(finished, eval_log(33.3))
    write(unfinished, unfinished_train_log())
    ok = subprocess.run(
        [sys.executable, "-m", "enprompt.logparse", str(finished), "--test-log"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert ok.returncode == 0 and "accuracy: 33.30%" in ok.stdout
    not_ok = subprocess.run(
        [sys.executable, "-m", "enprompt.logparse", str(unfinished)],
        cwd=REPO, capture_output=True, text=True,
    )
    assert not_ok.returncode == 1 and "interrupted or failed" in not_ok.stdout
