"""A whole protocol as one sweep: ``python -m enprompt.sweep PROTOCOL``.

The protocol's steps, datasets, seeds and shot counts come from
:mod:`enprompt.protocols`; each job is the command of one script of
``scripts/enprompt/`` (the scripts stay the one definition of a run), so a
sweep writes the same run folders, logs and manifests as the scripts run by
hand, with the same skip/resume/refuse rules.

* :mod:`~enprompt.sweep.plan`: the jobs, and what each still needs;
* :mod:`~enprompt.sweep.decide`: ``train.py``'s own decision for a job's folder;
* :mod:`~enprompt.sweep.local`: jobs as processes of this machine (GPUs shared out);
* :mod:`~enprompt.sweep.slurm`: jobs as Slurm job arrays through submitit;
* :mod:`~enprompt.sweep.task`: the callable a Slurm job runs (requeued on preemption);
* :mod:`~enprompt.sweep.schedule`, :mod:`~enprompt.sweep.progress`: running the jobs,
  the live line;
* :mod:`~enprompt.sweep.report`: the protocol's table and the failed jobs;
* :mod:`~enprompt.sweep.cli`: the command line.

See docs/SCALING.md.
"""
from .cli import main

__all__ = ["main"]
