"""The GPUs of this machine, without PyTorch: ``CUDA_VISIBLE_DEVICES`` or ``nvidia-smi``."""
import os
import shutil
import subprocess

__all__ = ["visible_gpus"]


def visible_gpus():
    """The device ids jobs may use: ``CUDA_VISIBLE_DEVICES`` when set, else every GPU that
    ``nvidia-smi`` lists (none without it)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]
