"""Dassl trainer plugins of this project (CoOp layout).

Importing a module registers its trainer(s) in ``TRAINER_REGISTRY``:
``trainers.enprompt`` (EnPrompt) and ``trainers.zsclip`` (ZeroshotCLIP,
ZeroshotCLIP2).
"""
