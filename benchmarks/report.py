"""What the benchmarks record: the machine, and the report files (JSON, markdown)."""
import json
import os
import platform

from enprompt.fileio import atomic_write

__all__ = ["machine_info", "mem_available_bytes", "write_report", "write_text"]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mem_available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def machine_info(device, precision_requested=None, precision=None):
    """What the figures were measured on (``device``: a ``torch.device``)."""
    import torch

    info = {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "gpu_memory_bytes": torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "precision_requested": precision_requested,
        "precision": precision,
        "mem_available_bytes": mem_available_bytes(),
    }
    # Settings that change CPU timings (allocator, threads), as they were.
    info["environment"] = {
        k: v for k, v in os.environ.items()
        if k.startswith("MALLOC_") or k in ("LD_PRELOAD", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        info["load_average"] = None
    return info


def write_report(report, path, quiet=False):
    """Write ``report`` as indented JSON to ``path``, atomically (its folder is created)."""
    with atomic_write(path, "w") as f:
        json.dump(report, f, indent=2)
    if not quiet:
        print(f"Results written to {path}")


def write_text(text, path):
    """Write ``text`` (e.g. a markdown report) to ``path``, atomically."""
    with atomic_write(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
