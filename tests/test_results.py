"""enprompt.results: the paper's tables from a synthetic output folder.

The folder has the layout of scripts/enprompt/*.sh; every number below is
computed by hand from the values written into the logs.
"""
import csv
import io
import os.path as osp

import pytest

from enprompt import results
from tests.synthetic_logs import eval_log, train_log, unfinished_train_log, write

B2N_CFG = "vit_b16_c4_ep5_batch4_base2new"
XD_CFG = "vit_b16_c4_ep2_batch4_cross_datasets"
FS_CFG = "vit_b16_c4_ep50_batch4_few_shot"


def b2n_dir(root, part, dataset, seed):
    return osp.join(root, "base2new", part, dataset, "shots_16", "EnPrompt", B2N_CFG, f"seed{seed}")


def xd_eval_dir(root, dataset, seed):
    return osp.join(root, "evaluation", "EnPrompt", f"{XD_CFG}_16shots", dataset, f"seed{seed}")


def few_shot_dir(root, dataset, shots, seed):
    return osp.join(root, "few_shot", dataset, "EnPrompt", f"{FS_CFG}_{shots}shots", f"seed{seed}")


@pytest.fixture
def output_root(tmp_path):
    root = str(tmp_path / "output")
    # Base-to-novel. DTD: base 80/82/84 (seed 1 resumed: its result is in
    # the rerun log), new 70/72/74. EuroSAT: base 90/94 (seed 3 unfinished),
    # new 50/54/58.
    write(b2n_dir(root, "train_base", "dtd", 1), unfinished_train_log())
    write(b2n_dir(root, "train_base", "dtd", 1), train_log(80.0), name="log.txt-2024-05-01-10-00-00")
    write(b2n_dir(root, "train_base", "dtd", 2), train_log(82.0))
    write(b2n_dir(root, "train_base", "dtd", 3), train_log(84.0, end_signal="Finished training"))
    for seed, value in [(1, 70.0), (2, 72.0), (3, 74.0)]:
        write(b2n_dir(root, "test_new", "dtd", seed), eval_log(value))
    write(b2n_dir(root, "train_base", "eurosat", 1), train_log(90.0))
    write(b2n_dir(root, "train_base", "eurosat", 2), train_log(94.0))
    write(b2n_dir(root, "train_base", "eurosat", 3), unfinished_train_log())
    for seed, value in [(1, 50.0), (2, 54.0), (3, 58.0)]:
        write(b2n_dir(root, "test_new", "eurosat", seed), eval_log(value))

    # Cross-dataset / DG, seeds 1 and 2. Source 70/72; Caltech101 90/92,
    # DTD 40/44, ImageNet-A 30/34, ImageNetV2 only seed 1 (60).
    for seed, value in [(1, 70.0), (2, 72.0)]:
        write(osp.join(root, "imagenet", "EnPrompt", f"{XD_CFG}_16shots", f"seed{seed}"),
              train_log(value))
    for dataset, values in [("caltech101", [90.0, 92.0]), ("dtd", [40.0, 44.0]),
                            ("imagenet_a", [30.0, 34.0]), ("imagenetv2", [60.0])]:
        for seed, value in enumerate(values, start=1):
            write(xd_eval_dir(root, dataset, seed), eval_log(value))

    # Few-shot, seeds 1 and 2. DTD 1 shot 40/42, 4 shots 50/54; EuroSAT
    # 1 shot 60/62, no 4-shot run.
    for dataset, shots, values in [("dtd", 1, [40.0, 42.0]), ("dtd", 4, [50.0, 54.0]),
                                   ("eurosat", 1, [60.0, 62.0])]:
        for seed, value in enumerate(values, start=1):
            write(few_shot_dir(root, dataset, shots, seed), train_log(value))
    return root


def markdown_rows(text, title_start):
    """{first cell: [other cells]} of the markdown table whose heading starts with title_start."""
    block = text.split(f"### {title_start}", 1)[1].split("###", 1)[0]
    rows = {}
    for line in block.splitlines():
        if line.startswith("| ") and not line.startswith("| Dataset"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def run_results(capsys, *argv):
    code = results.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def hm(b, n):
    return 2 * b * n / (b + n)


def test_base2new_table(output_root, capsys):
    code, out, _ = run_results(capsys, output_root)
    assert code == 0
    rows = markdown_rows(out, "Base-to-novel: EnPrompt / " + B2N_CFG)
    # mean 82, population std sqrt(8/3) = 1.63
    assert rows["DTD"] == ["82.00 ± 1.63", "72.00 ± 1.63", f"{hm(82, 72):.2f}", "3"]
    # EuroSAT: base of seeds 1-2 only (92 ± 2), new 54 ± sqrt(32/3) = 3.27
    assert rows["EuroSAT"] == ["92.00 ± 2.00", "54.00 ± 3.27", f"{hm(92, 54):.2f}", "2/3"]
    # Average: mean Base 87, mean New 63, HM of those (not the mean of the HMs)
    assert rows["Average"][:3] == ["87.00", "63.00", f"{hm(87, 63):.2f}"]
    assert f"{hm(87, 63):.2f}" != f"{(hm(82, 72) + hm(92, 54)) / 2:.2f}"


def test_runs_left_out_are_listed_by_state(output_root, capsys):
    _, out, _ = run_results(capsys, output_root)
    b2n = out.split("### Base-to-novel", 1)[1].split("###", 1)[0]
    # a log without result and no manifest to say why: unfinished, not "missing"
    assert "Unfinished runs (no manifest) (1):" in b2n and "Missing runs" not in b2n
    assert f"- {b2n_dir(output_root, 'train_base', 'eurosat', 3)}: 1 log(s) without" in b2n
    dg = out.split("### Domain generalization", 1)[1].split("###", 1)[0]
    assert f"- {xd_eval_dir(output_root, 'imagenetv2', 2)}: folder missing" in dg
    few = out.split("### Few-shot", 1)[1]
    for seed in (1, 2):
        assert f"- {few_shot_dir(output_root, 'eurosat', 4, seed)}: folder missing" in few


def test_folders_without_manifest_are_read_from_logs_and_said_once_per_table(output_root,
                                                                             capsys):
    _, out, _ = run_results(capsys, output_root)
    b2n = out.split("### Base-to-novel", 1)[1].split("###", 1)[0]
    assert b2n.count("no manifest.json") == 1
    # 12 run folders with logs: DTD and EuroSAT, base and new, 3 seeds each
    assert "12 run(s) have no manifest.json (written before run manifests existed)" in b2n
    # nothing says which shots the runs used but their folders
    assert b2n.startswith(f": EnPrompt / {B2N_CFG} (16 shots by the folder names)\n")


def test_expected_seeds_option(output_root, capsys):
    _, out, _ = run_results(capsys, output_root, "--seeds", "1", "2", "3")
    xd = out.split("### Cross-dataset", 1)[1].split("###", 1)[0]
    assert markdown_rows(out, "Cross-dataset")["DTD"] == ["42.00 ± 2.00", "2/3"]
    assert f"- {xd_eval_dir(output_root, 'dtd', 3)}: folder missing" in xd


def test_cross_dataset_and_domain_generalization_tables(output_root, capsys):
    _, out, _ = run_results(capsys, output_root)
    xd = markdown_rows(out, "Cross-dataset: EnPrompt / " + XD_CFG)
    assert xd["ImageNet (source)"] == ["71.00 ± 1.00", "2"]
    assert xd["Caltech101"] == ["91.00 ± 1.00", "2"]
    assert xd["DTD"] == ["42.00 ± 2.00", "2"]
    assert xd["Average (targets)"][0] == "66.50"  # (91 + 42) / 2, without the source
    assert "ImageNet-A" not in xd and "ImageNetV2" not in xd
    dg = markdown_rows(out, "Domain generalization: EnPrompt / " + XD_CFG)
    assert dg["ImageNet (source)"] == ["71.00 ± 1.00", "2"]
    assert dg["ImageNetV2"] == ["60.00 ± 0.00", "1/2"]
    assert dg["ImageNet-A"] == ["32.00 ± 2.00", "2"]
    assert dg["Average (targets)"][0] == "46.00"
    assert list(dg) == ["ImageNet (source)", "ImageNetV2", "ImageNet-A", "Average (targets)"]


def test_few_shot_table(output_root, capsys):
    _, out, _ = run_results(capsys, output_root)
    assert "| Dataset | 1 shot | 4 shots | Seeds |" in out
    rows = markdown_rows(out, "Few-shot: EnPrompt / " + FS_CFG)
    assert rows["DTD"] == ["41.00 ± 1.00", "52.00 ± 2.00", "2"]
    assert rows["EuroSAT"] == ["61.00 ± 1.00", "–", "0/2"]
    # 1 shot: (41 + 61) / 2; 4 shots: not every dataset has it
    assert rows["Average"][:2] == ["51.00", "–"]


def test_ci95(output_root, capsys):
    _, out, _ = run_results(capsys, output_root, "--ci95")
    rows = markdown_rows(out, "Base-to-novel")
    assert rows["DTD"][0] == "82.00 ± 1.85"  # 1.96 * 1.633 / sqrt(3)
    assert "mean ± CI95 over seeds" in out


def test_csv_format(output_root, capsys):
    code, out, err = run_results(capsys, output_root, "--format", "csv")
    assert code == 0
    block = out.split("# Base-to-novel", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
    rows = {r["dataset"]: r for r in csv.DictReader(io.StringIO(block))}
    assert float(rows["dtd"]["base_mean"]) == pytest.approx(82.0)
    assert float(rows["dtd"]["base_std"]) == pytest.approx((8 / 3) ** 0.5, abs=1e-4)
    assert float(rows["dtd"]["new_mean"]) == pytest.approx(72.0)
    assert float(rows["dtd"]["hm"]) == pytest.approx(hm(82, 72), abs=1e-4)
    assert rows["eurosat"]["seeds"] == "2/3"
    assert float(rows["average"]["hm"]) == pytest.approx(hm(87, 63), abs=1e-4)
    # the console CSV stays machine-readable: the runs left out go to stderr
    assert ("not in the tables (unfinished): "
            + b2n_dir(output_root, "train_base", "eurosat", 3)) in err


def test_out_folder_has_markdown_csv_and_plot(output_root, tmp_path, capsys):
    out_dir = tmp_path / "tables"
    code, _, _ = run_results(capsys, output_root, "--out", out_dir)
    assert code == 0
    for stem in [f"base2new-EnPrompt-{B2N_CFG}", f"cross_dataset-EnPrompt-{XD_CFG}_16shots",
                 f"domain_generalization-EnPrompt-{XD_CFG}_16shots", f"few_shot-EnPrompt-{FS_CFG}"]:
        assert (out_dir / f"{stem}.md").read_text().startswith("### ")
        assert (out_dir / f"{stem}.csv").read_text().startswith("dataset,")
    png = (out_dir / f"few_shot-EnPrompt-{FS_CFG}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    problems = (out_dir / "problem_runs.tsv").read_text().splitlines()
    assert problems[0] == "state\trun_dir\treason"
    assert problems[1].startswith(
        f"unfinished\t{b2n_dir(output_root, 'train_base', 'eurosat', 3)}\t1 log(s) without")
    assert f"missing\t{xd_eval_dir(output_root, 'imagenetv2', 2)}\tfolder missing" in problems[2]


def test_empty_output_folder(tmp_path, capsys):
    code, _, err = run_results(capsys, tmp_path)
    assert code == 1
    assert "No run folders found" in err
    code, _, err = run_results(capsys, tmp_path / "nope")
    assert code == 2 and "is not a directory" in err


def test_the_default_root_is_that_of_the_scripts(output_root, tmp_path, capsys, monkeypatch):
    from enprompt.results.cli import build_parser, default_root

    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    monkeypatch.delenv("OUTPUT", raising=False)
    # the scripts' default output folder, <repository>/output, named in --help
    assert default_root() == osp.join(repo, "output")
    # without whitespace: argparse wraps lines, and breaks a path at a hyphen (/tmp/ci-check)
    help_text = "".join(build_parser().format_help().split())
    expected = f"default: $OUTPUT if set, else the scripts' default, currently {repo}/output"
    assert "".join(expected.split()) in help_text
    monkeypatch.setenv("OUTPUT", output_root)  # as the scripts read it
    code, out, _ = run_results(capsys)
    assert code == 0 and "### Base-to-novel: EnPrompt" in out
    monkeypatch.setenv("OUTPUT", str(tmp_path / "nope"))
    code, _, err = run_results(capsys)
    assert code == 2
    assert f"Error: {tmp_path / 'nope'} is not a directory (the default root" in err


def _run_with_keys(seed, keys):
    from enprompt.results.runs import Run
    from enprompt.run.identity import identity_from_keys

    identity = identity_from_keys({**keys, "SEED": seed})
    manifest = {"kind": "train", "identity": identity._asdict()}
    return Run(f"seed{seed}", seed, manifest, "manifest", "finished", 50.0)


def test_a_key_that_one_seed_predates_is_no_difference_at_its_default():
    from enprompt.results.checks import mixed_experiments

    old = _run_with_keys(1, {"OPTIM.LR": 0.0035})
    new = _run_with_keys(2, {"OPTIM.LR": 0.0035, "NEW.KEY": False})
    other = _run_with_keys(3, {"OPTIM.LR": 0.0035, "NEW.KEY": True})
    assert old.experiment_hash != new.experiment_hash
    # as train.py decides: the older run used what is now the default
    assert mixed_experiments([old, new], defaults={"NEW.KEY": False}) is None
    reason = mixed_experiments([old, new, other], defaults={"NEW.KEY": False})
    assert "(NEW.KEY: (absent) (seed 1), False (seed 2), True (seed 3))" in reason
    reason = mixed_experiments([_run_with_keys(1, {"OPTIM.LR": 0.0035}),
                                _run_with_keys(2, {"OPTIM.LR": 0.002})], defaults={})
    assert reason.startswith("mixed configs: these seeds are different experiments "
                             "(OPTIM.LR: 0.0035 (seed 1), 0.002 (seed 2)); none of them")
