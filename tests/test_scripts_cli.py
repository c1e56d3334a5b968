"""The command line of every script of scripts/enprompt/: --help, -h, and a wrong shell.

No interpreter and no data are needed for these: --help answers before the
script checks its arguments or $DATA.
"""
import os.path as osp
import shutil
import subprocess

import pytest

from tests.script_helpers import SCRIPT_NAMES, SCRIPTS, run_script, script_env


def usage_comment(name):
    """The comment block under the script's first line, without its '# ' (read here by hand)."""
    lines = []
    with open(osp.join(SCRIPTS, name)) as f:
        for line in list(f)[1:]:
            if not line.startswith("#"):
                break
            lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "".join(lines)


def test_every_script_is_covered():
    assert len(SCRIPT_NAMES) == 9 and "xd_train.sh" in SCRIPT_NAMES


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_help_prints_the_usage_comment(tmp_path, name, flag):
    # anywhere among the arguments, e.g. after DATASET (too few arguments otherwise)
    args = ["dtd", flag] if name == "few_shot.sh" else [flag]
    process = run_script(name, *args, cwd=tmp_path, env=script_env(), check=False)
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    comment = usage_comment(name)
    assert "Usage: bash scripts/enprompt/" + name in comment
    assert process.stdout.startswith(comment)
    # and the environment every script reads, from common.sh
    assert "Environment read by every script:\n  DATA    (required)" in process.stdout
    assert not list(tmp_path.iterdir())  # nothing run, nothing written


def test_a_usage_error_names_the_usage_line_and_help(tmp_path):
    process = run_script("xd_test.sh", "dtd", cwd=tmp_path, env=script_env(), check=False)
    assert process.returncode == 2
    assert process.stderr == (
        "Usage: bash scripts/enprompt/xd_test.sh DATASET SEED [KEY VALUE ...]\n"
        "Run it with --help for the details.\n"
    )


def _posix_sh():
    """A POSIX sh that is not bash (dash on Debian and Ubuntu), or None."""
    for name in ("dash", "sh"):
        path = shutil.which(name)
        if path:
            probe = subprocess.run([path, "-c", 'echo "${BASH_VERSION:-}"'],
                                   capture_output=True, text=True)
            if probe.stdout.strip() == "":
                return path
    return None


@pytest.mark.skipif(_posix_sh() is None, reason="no POSIX sh other than bash is installed "
                    "(here `sh` is bash, which runs the scripts)")
@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_sh_says_run_with_bash(tmp_path, name):
    process = run_script(name, "dtd", "1", cwd=tmp_path, env=script_env(), check=False,
                         shell=_posix_sh())
    assert process.returncode == 2
    script = osp.join(SCRIPTS, name)
    assert process.stderr == f"Error: run this script with bash: bash {script} ...\n"
    assert process.stdout == ""
