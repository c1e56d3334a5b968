"""The end of a sweep: the protocol's table (``enprompt.results``), and each failed job."""
import os
import os.path as osp

from enprompt.fileio import atomic_write
from enprompt.results.render import render_csv, render_markdown
from enprompt.results.tables import collect_tables, dataset_title
from enprompt.run.manifest import ManifestError, read_manifest

__all__ = ["TABLE_PROTOCOLS", "protocol_tables", "write_tables", "failure_lines", "zeroshot_table",
           "write_table_file"]

# The tables of enprompt.results that each protocol fills.
TABLE_PROTOCOLS = {
    "base2new": "base2new", "few_shot": "few_shot", "xd": "cross_dataset",
    "dg": "domain_generalization",
}


def protocol_tables(sweep, seeds):
    """The tables of ``enprompt.results`` for the sweep's protocol and config."""
    wanted = TABLE_PROTOCOLS.get(sweep.protocol.name)
    if wanted is None:
        return []
    cfg = sweep.cfg or sweep.protocol.cfg
    trainer = sweep.protocol.steps[0].trainer
    return [table for table in collect_tables(sweep.output, seeds=seeds)
            if table.protocol == wanted and f"-{trainer}-{cfg}" in table.slug]


def _write(path, text):
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_table_file(text, path):
    """Write ``text`` to ``path`` atomically (its folder is created); returns ``path``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    _write(path, text)
    return path


def write_tables(tables, folder):
    """Write each table as ``<slug>.md`` and ``<slug>.csv`` (as ``enprompt.results --out``);
    returns the markdown files."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for table in tables:
        path = osp.join(folder, table.slug + ".md")
        _write(path, render_markdown(table))
        _write(osp.join(folder, table.slug + ".csv"), render_csv(table))
        written.append(path)
    return written


def zeroshot_table(sweep):
    """Zero-shot CLIP has no paper table in ``enprompt.results``: accuracy per dataset
    from the runs' manifests, as markdown."""
    lines = ["### Zero-shot CLIP", "", "| Dataset | Accuracy |", "|---|---:|"]
    for job in sweep.jobs:
        try:
            manifest = read_manifest(job.run_dir) or {}
        except ManifestError:
            manifest = {}
        result = manifest.get("result") or {}
        value = f"{result['accuracy']:.2f}" if manifest.get("status") == "finished" \
            and "accuracy" in result else "-"
        lines.append(f"| {dataset_title(job.dataset)} | {value} |")
    return "\n".join(lines) + "\n"


def failure_lines(failed):
    """For each failed job: what failed, its log, and the command that reruns just it."""
    lines = []
    for job in failed:
        lines.append(f"- {job.name}: {job.error}")
        if job.log:
            lines.append(f"    log:   {job.log}")
        if job.run_dir and osp.isfile(osp.join(job.run_dir, "log.txt")):
            lines.append(f"    run:   {osp.join(job.run_dir, 'log.txt')}")
        lines.append(f"    rerun: {job.shell_command()}")
    return lines
