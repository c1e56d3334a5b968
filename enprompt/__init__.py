"""EnPrompt: prompt learning for CLIP through an External Layer (ACM MM 2024).

The library: the model (:mod:`enprompt.model`), the CLIP weight loader
(:mod:`enprompt.clip_loader`), the config keys (:mod:`enprompt.config`), the
Dassl switch (:mod:`enprompt.dassl`) and the built-in engine
(:mod:`enprompt.engine`), and the use of a trained model
(:mod:`enprompt.inference`: ``from enprompt import EnPromptClassifier``,
imported on first use, so that ``import enprompt`` loads no PyTorch). The
program (``train.py``, ``trainers/``, ``datasets/``, ``configs/``,
``scripts/``) lives at the repository root.
"""
import warnings

from .lazy import lazy_exports
from .version import __version__

# The clip package imports pkg_resources (kept by the setuptools<81 pin), which
# warns on every run; the warning is about clip's code, not the user's.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

__all__ = ["EnPromptClassifier", "__version__"]

__getattr__, _lazy_dir = lazy_exports(__name__, {"EnPromptClassifier": "inference.classifier"})


def __dir__():
    return sorted(set(globals()) | set(_lazy_dir()))
