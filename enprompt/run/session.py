"""One run in its folder, from the decision to the final manifest.

``train.py`` drives a run through a :class:`RunSession`::

    session = RunSession(cfg, kind="train", command=sys.argv, engine=ENGINE)
    decision = session.open()          # lock the folder, read its manifest, decide
    if decision.action == "skip": ...  # finished: nothing to do
    session.begin()                    # manifest "running" (written atomically)
    ...build the trainer...
    session.record_trainer(trainer)    # class names, split and few-shot files
    ...train or evaluate...
    session.finish(result)             # manifest "finished", with the result and checkpoint
    session.close()                    # release the folder

:meth:`interrupted` and :meth:`failed` end a run that did not finish. All of
this is plain Python and file I/O; the trainer is only read (duck typing).

A data-parallel run has one session per process, given its ``peers``
(:class:`enprompt.distributed.Peers`): rank 0 locks the folder, decides and
writes; :meth:`open` hands its decision to the other processes (or, when it
refuses or fails, stops them with :class:`StoppedByMainProcess`), which then
write nothing. :meth:`begin` returns on every process once the folder is ready
(cleared on ``--overwrite``, manifest written), so all of them resume from the
same files.
"""
import os
import os.path as osp
import shutil

from enprompt.fileio import remove_stale_temp_files
from enprompt.logparse import find_result, list_logs

from .checkpoints import checkpoint_epochs, checkpoint_file, model_folders
from .decision import Decision, ModelState, decide_eval, decide_train
from .identity import run_identity
from .lock import LOCK_NAME, RunFolderBusy, RunFolderLock
from .manifest import new_manifest, read_manifest, utc_now, write_manifest
from .provenance import clip_weights_sha256, environment, file_record, file_sha256

__all__ = ["RunSession", "StoppedByMainProcess"]


class StoppedByMainProcess(Exception):
    """Rank 0 of a data-parallel run refused the run or failed to open it (and said why).

    The other processes end with ``exit_code`` and say nothing more.
    """

    exit_code = 2


def _first_line(text):
    text = str(text).strip()
    return text.splitlines()[0] if text else ""


def _has_content(run_dir):
    if not osp.isdir(run_dir):
        return False
    return bool(list_logs(run_dir) or model_folders(run_dir))


class RunSession:
    """The state of one run folder while a run works in it.

    Args:
        cfg (CfgNode): the final config (``OUTPUT_DIR`` is the run folder).
        kind (str): "train" or "eval".
        command (list[str]): the command line, recorded in the manifest.
        engine (str): "builtin" or "dassl".
        overwrite (bool): start over in a folder that holds something else.
        model_dir (str): eval: the model folder (``--model-dir``), "" for none.
        explicit_epoch (int): eval: ``--load-epoch`` as given, or None.
        defaults (dict): the result keys of the default config
            (:func:`~enprompt.run.identity.result_keys`), so that keys added to
            the project after a folder's run was recorded are not differences
            at their default.
        peers (Peers): the processes of a data-parallel run; None for one process.
        world_size (int): the processes of the run, where no ``peers`` say it (a
            sweep planning a data-parallel run from outside it); default: the
            peers' size, else 1.
    """

    def __init__(self, cfg, kind, command, engine, overwrite=False, model_dir="",
                 explicit_epoch=None, defaults=None, peers=None, world_size=None):
        self.cfg = cfg
        self.kind = kind
        self.run_dir = cfg.OUTPUT_DIR
        self.command = list(command)
        self.engine = engine
        self.overwrite = overwrite
        self.model_dir = model_dir
        self.explicit_epoch = explicit_epoch
        self.defaults = defaults
        self.peers = peers
        self.world_size = peers.size if peers is not None else (world_size or 1)
        self.writes = peers is None or peers.is_main  # rank 0 (or the only process)
        self.identity = None
        if self.writes:
            self.identity = run_identity(
                cfg, clip_weights_sha256(cfg.TRAINER.ENPROMPT.CLIP_WEIGHTS, cfg.MODEL.BACKBONE.NAME),
                world_size=self.world_size if kind == "train" else 1,
            )
        self.lock = RunFolderLock(self.run_dir)
        self.decision = None
        self.model = None
        self.manifest = None
        self.last_result = None
        self._shared_eval_epoch = None

    # ------------------------------------------------------------ decide
    def model_state(self):
        """The :class:`ModelState` of the evaluated model folder (None without one)."""
        if not self.model_dir:
            return None
        return ModelState(self.model_dir, read_manifest(self.model_dir),
                          checkpoint_epochs(self.model_dir))

    def open(self):
        """Lock the folder and decide what the run does there.

        Returns:
            Decision

        Raises:
            RunFolderBusy: another process works in the folder (nothing touched).
            RunConflict: the folder holds another experiment (lock released).
            ManifestError: the folder's manifest is damaged (lock released).
            StoppedByMainProcess: (data-parallel, ranks > 0) rank 0 raised one of these.
        """
        if self.peers is None:
            return self._decide()
        outcome, error = None, None
        if self.writes:
            try:
                decision = self._decide()
                outcome = {"decision": list(decision), "eval_epoch": self.eval_epoch()}
            except BaseException as e:  # shared first, so that no process waits for rank 0
                error = e
                outcome = {"error": _first_line(f"{type(e).__name__}: {e}")}
        shared = self.peers.share(outcome)
        if error is not None:
            raise error
        if "error" in shared:
            raise StoppedByMainProcess(f"rank 0 stopped the run ({shared['error']})")
        if not self.writes:
            self.decision = Decision(*shared["decision"])
            self._shared_eval_epoch = shared["eval_epoch"]
        return self.decision

    def preview(self):
        """What :meth:`open` would decide now, without locking or writing anything
        (``python -m enprompt.sweep`` plans with it).

        Returns:
            Decision

        Raises:
            RunFolderBusy: another process works in the folder.
            RunConflict, ManifestError: as :meth:`open`.
        """
        holder = self.lock.holder()
        if holder is not None:
            raise RunFolderBusy(f"{self.run_dir} is in use by {holder}")
        return self._decide_unlocked()

    def _decide(self):
        self.lock.acquire()
        try:
            self.decision = self._decide_unlocked()
        except BaseException:
            self.lock.release()
            raise
        return self.decision

    def _decide_unlocked(self):
        """The decision for the folder as it is now (the caller holds the lock, or only looks)."""
        manifest = read_manifest(self.run_dir)
        has_content = _has_content(self.run_dir)
        if self.kind == "train":
            decision = decide_train(self.run_dir, self.identity, manifest, has_content,
                                    overwrite=self.overwrite, defaults=self.defaults)
            if decision.action == "legacy" and find_result(self.run_dir) is not None:
                decision = decision._replace(action="skip", reason=decision.reason)
        else:
            self.model = self.model_state()
            decision = decide_eval(self.run_dir, self.identity, manifest, has_content,
                                   self.model, explicit_epoch=self.explicit_epoch,
                                   overwrite=self.overwrite, defaults=self.defaults)
            if decision.action == "legacy" and find_result(self.run_dir, test_log=True):
                decision = decision._replace(action="skip")
        return decision

    def eval_epoch(self):
        """The epoch an evaluation loads: ``--load-epoch`` if given, else the
        finished model's final epoch, else (a model folder without manifest)
        its newest checkpoint. None when there is no model folder. Ranks > 0
        of a data-parallel run get rank 0's answer."""
        if not self.writes:
            return self._shared_eval_epoch
        if self.explicit_epoch is not None or self.model is None:
            return self.explicit_epoch
        if self.model.manifest is not None:
            return self.model.manifest["checkpoint"]["epoch"]
        return self.model.epochs_on_disk[-1] if self.model.epochs_on_disk else None

    # ------------------------------------------------------------ record
    def _clear_folder(self):
        for name in os.listdir(self.run_dir):
            if name == LOCK_NAME:
                continue
            path = osp.join(self.run_dir, name)
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)

    def begin(self):
        """Write the ``running`` manifest (after clearing the folder on overwrite).

        Data-parallel: rank 0 writes, and every process returns once it has.
        """
        if self.peers is None:
            return self._begin()
        try:
            if self.writes:
                self._begin()
        finally:
            self.peers.barrier()

    def _begin(self):
        action = self.decision.action
        if action == "overwrite":
            self._clear_folder()
        # The lock is held, so no write is under way here: temporary files are
        # what killed writes left (never read; every real file is complete).
        removed, size = remove_stale_temp_files(self.run_dir)
        if removed:
            print(f"Removed {removed} temporary file(s) ({size / 1e6:.1f} MB) that interrupted "
                  f"writes left in {self.run_dir}.")
        previous = self.decision.manifest
        manifest = new_manifest(
            self.kind,
            self.identity,
            config=self.cfg.dump(),
            trainer=self.cfg.TRAINER.NAME,
            backbone=self.cfg.MODEL.BACKBONE.NAME,
            dataset=self.cfg.DATASET.NAME,
            environment=dict(environment(self.engine), world_size=self.world_size),
            command=self.command,
            partial=bool(self.decision.partial),
        )
        if action == "resume" and previous is not None:
            manifest["run_id"] = previous["run_id"]
            manifest["data"] = previous.get("data") or manifest["data"]
            manifest["started"] = previous.get("started") or manifest["started"]
            manifest["resumed"] = (previous.get("resumed") or []) + [utc_now()]
        self.manifest = manifest
        write_manifest(self.run_dir, manifest)

    def record_trainer(self, trainer):
        """Record what the built trainer uses: class names and data files."""
        if not self.writes:
            return
        dataset = getattr(getattr(trainer, "dm", None), "dataset", None)
        if dataset is not None:
            self.manifest["classnames"] = list(getattr(dataset, "classnames", []) or [])
            folder = getattr(dataset, "dataset_dir", None)
            self.manifest["data"] = {
                "split_file": file_record(getattr(dataset, "split_path", None), folder),
                "fewshot_file": file_record(getattr(dataset, "fewshot_path", None), folder),
            }
        write_manifest(self.run_dir, self.manifest)

    def record_result(self, results):
        """Keep the last evaluation's metrics (``{"accuracy": ..., ...}``)."""
        self.last_result = {k: float(v) for k, v in dict(results).items()}

    def _end(self, status, error=None, epochs=None):
        self.manifest["status"] = status
        self.manifest["error"] = error
        self.manifest["ended"] = utc_now()
        if epochs is not None:
            self.manifest["epochs"] = epochs
        if self.last_result is not None:
            self.manifest["result"] = self.last_result
        write_manifest(self.run_dir, self.manifest)

    def finish(self, trainer=None, final_epoch=None, final_file=None):
        """Mark the run finished, with its result and the checkpoint it produced or read.

        Args:
            trainer: the trainer (train: its epochs; eval: unused).
            final_epoch (int): train: the epoch of the deployed checkpoint.
            final_file (str): train: the deployed checkpoint file.
        """
        if not self.writes:
            return
        epochs = None
        if self.kind == "train":
            epochs = {"done": getattr(trainer, "max_epoch", None),
                      "max": getattr(trainer, "max_epoch", None)}
            if final_file and osp.isfile(final_file):
                self.manifest["checkpoint"] = {
                    "path": osp.relpath(final_file, self.run_dir),
                    "epoch": final_epoch,
                    "sha256": file_sha256(final_file),
                }
        elif self.model is not None:
            epoch = self.eval_epoch()
            path = checkpoint_file(self.model_dir, epoch)
            model_manifest = self.model.manifest or {}
            self.manifest["evaluated"] = {
                "model_dir": osp.abspath(self.model_dir),
                "checkpoint": osp.relpath(path, self.model_dir) if path else None,
                "epoch": epoch,
                "sha256": file_sha256(path) if path else None,
                "model_run_id": model_manifest.get("run_id"),
                "model_identity_hash": (model_manifest.get("identity") or {}).get("hash"),
                "model_status": model_manifest.get("status"),
            }
        self._end("finished", epochs=epochs)

    @property
    def finished(self):
        """True once :meth:`finish` recorded the run as finished."""
        return self.manifest is not None and self.manifest["status"] == "finished"

    def interrupted(self, notice, epochs_done=None):
        """Mark the run interrupted, with the one-line notice (not once it finished)."""
        if self.manifest is not None and not self.finished:
            epochs = None if epochs_done is None else {"done": epochs_done,
                                                       "max": self.cfg.OPTIM.MAX_EPOCH}
            self._end("interrupted", error=_first_line(notice), epochs=epochs)

    def failed(self, error, epochs_done=None):
        """Mark the run failed, with the error's first line (not once it finished)."""
        if self.manifest is not None and not self.finished:
            epochs = None if epochs_done is None else {"done": epochs_done,
                                                       "max": self.cfg.OPTIM.MAX_EPOCH}
            self._end("failed", error=_first_line(f"{type(error).__name__}: {error}"),
                      epochs=epochs)

    def epochs_saved(self):
        """Epochs whose checkpoint is complete in the run folder (training)."""
        epochs = checkpoint_epochs(self.run_dir)
        return epochs[-1] if epochs else 0

    def close(self):
        """Release the run folder."""
        self.lock.release()

