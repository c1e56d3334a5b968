"""Run the toy experiment through whichever engine ``enprompt.dassl`` selects.

Usage: python -m tests.dual_engine_probe DATA_ROOT OUTPUT_DIR RESULT_JSON
Writes what must agree between the real Dassl and the built-in engine. The run
keeps the best-val model (``TEST.FINAL_MODEL best_val``), so both engines go
through the checkpoint mixin's ``after_epoch`` and ``load_model``.
"""
import json
import os
import sys

import enprompt.dassl as api
from tests.engine_toys import toy_cfg


def main(root, output_dir, result_path):
    cfg = toy_cfg(root, output_dir, api=api, **{
        "DATASET.NUM_SHOTS": 4, "TRAIN.CHECKPOINT_FREQ": 2, "TEST.FINAL_MODEL": "best_val",
    })
    cfg.freeze()
    api.set_random_seed(cfg.SEED)
    trainer = api.build_trainer(cfg)
    lrs = []
    original_before_epoch = trainer.before_epoch

    def record_lr():
        lrs.append(trainer.get_current_lr())
        original_before_epoch()

    trainer.before_epoch = record_lr
    trainer.train()
    checkpoint_dir = os.path.join(output_dir, "toy_head")
    last = api.load_checkpoint(os.path.join(checkpoint_dir, "model.pth.tar-4"))
    best = api.load_checkpoint(os.path.join(checkpoint_dir, "model-best.pth.tar"))
    result = {
        "engine": api.ENGINE,
        "train_x": [(os.path.relpath(d.impath, root), d.label, d.classname)
                    for d in trainer.dm.dataset.train_x],
        "lrs": lrs,
        "accuracy": trainer.test(),
        "files": sorted(os.listdir(checkpoint_dir)),
        "checkpoint_keys": sorted(last),
        "epoch": last["epoch"],
        "weights": {k: v.tolist() for k, v in last["state_dict"].items()},
        "best": {"epoch": best["epoch"], "val_result": best["val_result"], "meta": best["meta"]},
    }
    with open(result_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
