"""The fault-injection suite (``tests/fault_cases.py``) on each engine, and its docs.

Every case of the registry runs through ``train.py`` in one child process
per engine (the engine is chosen at import); each case is then one test
here, so a failure names the fault. The real-Dassl run skips where
Dassl.pytorch is not installed. docs/RELIABILITY.md states how many faults
are tried and lists each with what the user sees; the last test keeps the
two in step.
"""
import importlib.util
import json
import os.path as osp
import re
import subprocess
import sys

import pytest

from tests.child_process import child_env
from tests.fault_cases import CASES
from tests.paths import REPO

ENGINES = [
    pytest.param("builtin", id="builtin-engine"),
    pytest.param("dassl", id="real-dassl", marks=pytest.mark.skipif(
        importlib.util.find_spec("dassl") is None,
        reason="Dassl.pytorch is not installed, so only the built-in engine can be run",
    )),
]


@pytest.fixture(scope="module", params=ENGINES)
def outcomes(request, tiny_clip_path, tmp_path_factory):
    """``{case id: {"status", "detail"}}`` of the whole suite on one engine."""
    engine = request.param
    work = tmp_path_factory.mktemp(f"faults_{engine}")
    result_file = work / "outcomes.json"
    process = subprocess.run(
        [sys.executable, "-m", "tests.fault_cases", str(result_file), str(work), tiny_clip_path],
        cwd=REPO, env=child_env(engine), capture_output=True, text=True,
    )
    assert process.returncode == 0 and result_file.is_file(), process.stderr[-3000:]
    found = json.loads(result_file.read_text())
    assert found.pop("_engine") == engine
    return found


@pytest.mark.fault
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_is_handled(outcomes, case):
    outcome = outcomes[case.id]
    if outcome["status"] == "skipped":
        pytest.skip(outcome["detail"])
    assert outcome["status"] == "handled", f"{case.fault}:\n{outcome['detail']}"


def _suite_section():
    with open(osp.join(REPO, "docs", "RELIABILITY.md")) as f:
        text = f.read()
    match = re.search(r"^## Fault-injection suite\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, "docs/RELIABILITY.md has no 'Fault-injection suite' section"
    return match.group(1)


def test_the_docs_list_every_fault_of_the_suite_with_what_the_user_sees():
    section = _suite_section()
    counts = re.search(r"tries \*\*(\d+) faults\*\* on each engine .*?All (\d+) are handled",
                       section, re.S)
    assert counts, "the section does not state how many faults are tried and handled"
    assert [int(n) for n in counts.groups()] == [len(CASES), len(CASES)]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\|.*\(`([a-z0-9-]+)`\).*$", section, re.M)}
    assert sorted(rows) == sorted(c.id for c in CASES)
    for case in CASES:
        assert case.shows in rows[case.id], f"the row of {case.id} does not quote {case.shows!r}"
