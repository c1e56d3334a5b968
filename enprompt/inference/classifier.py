"""``EnPromptClassifier``: a trained EnPrompt model as an open-vocabulary image classifier.

::

    from enprompt import EnPromptClassifier

    clf = EnPromptClassifier.from_run("output/base2new/train_base/.../seed1")
    clf = EnPromptClassifier.from_file("model.safetensors")      # or an exported file
    clf.set_classes(["tabby cat", "golden retriever"])          # optional: any class names
    preds = clf.predict(["img1.jpg", pil_image, uint8_batch], top_k=5)
    preds[0].label, preds[0].prob, preds[0].labels, preds[0].probs

EnPrompt keeps CLIP's text side frozen and adapts it only through EnLa, which
is shared by all classes; the class list is therefore free: :meth:`set_classes`
encodes new names once through the frozen text encoder (with the model's own
templates) and the trained EnLa and visual prompts apply to them unchanged,
exactly as the base-to-novel protocol evaluates new classes.

Images go through the run's own test transform (the engine's
``build_transform`` with the run's ``INPUT`` settings), in batches, on the
chosen device and precision. Neither Dassl nor the dataset folder is needed.
"""
import contextlib
import io
import os.path as osp
from dataclasses import asdict, dataclass

import torch

from enprompt.choices import check_choice
from enprompt.clip_loader import describe_clip, load_clip
from enprompt.engine.checkpoint_mixin import check_fits
from enprompt.engine.data.transforms import build_transform
from enprompt.model import autocast_for, build_enprompt_model, cast_clip_weights, resolve_precision
from enprompt.run.provenance import clip_weights_sha256

from .inputs import batches, image_items
from .model_file import load_model_file, save_model_file
from .run_folder import read_run
from .trained_model import TrainedModelError

__all__ = ["Prediction", "EnPromptClassifier"]

DEFAULT_BATCH_SIZE = 64


@dataclass
class Prediction:
    """The top classes of one image.

    Attributes:
        image (str): the image's path, or ``<image i>`` / ``<tensor i[j]>``
            for an input given in memory (``i``: its position in the inputs).
        labels (list[str]): class names, most probable first.
        indices (list[int]): their positions in the class list.
        probs (list[float]): their probabilities (softmax over all classes).
    """

    image: str
    labels: list
    indices: list
    probs: list

    @property
    def label(self):
        """The most probable class name."""
        return self.labels[0]

    @property
    def index(self):
        """The most probable class's position in the class list."""
        return self.indices[0]

    @property
    def prob(self):
        """The most probable class's probability."""
        return self.probs[0]

    def to_dict(self):
        return asdict(self)


@contextlib.contextmanager
def _quiet(verbose):
    # The loader and the transform builder print what they do, as in a
    # training log; a library call prints nothing unless asked.
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _default_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class EnPromptClassifier:
    """A trained EnPrompt model that classifies images over any class list.

    Build it with :meth:`from_run` or :meth:`from_file`.

    Args:
        model (TrainedModel): what the model is built from.
        clip_weights (str, optional): the CLIP weights file; default: the file
            the run read when it exists here, else the CLIP cache of the
            backbone (downloaded there when missing). Checked against the
            SHA256 of the weights the model was trained with.
        device (str or torch.device, optional): default ``cuda`` when
            available, else ``cpu``.
        precision (str, optional): ``fp16``, ``fp32``, ``amp`` or ``bf16``;
            default: the run's ``TRAINER.ENPROMPT.PREC`` on a GPU, ``fp32``
            on the CPU.
        batch_size (int): images per forward pass.
        verbose (bool): print what is loaded, as a training run does.

    Raises:
        TrainedModelError: the CLIP weights are not those the model was
            trained with (another backbone, or other weights).
    """

    def __init__(self, model, clip_weights=None, device=None, precision=None,
                 batch_size=DEFAULT_BATCH_SIZE, verbose=False):
        self.trained = model
        self.device = torch.device(device) if device is not None else _default_device()
        self.batch_size = _positive_int("batch_size", batch_size)
        self.verbose = verbose
        with _quiet(verbose):
            weights = self._clip_weights(clip_weights)
            clip_model = load_clip(model.backbone, weights)
            self._check_backbone(clip_model, weights)
            if precision is None:
                precision = model.settings.get("PREC", "fp32") if self.device.type == "cuda" else "fp32"
            check_choice("TRAINER.ENPROMPT.PREC", precision)
            self.precision = resolve_precision(precision, self.device)
            cast_clip_weights(clip_model, self.precision)
            self.model = build_enprompt_model(
                model.settings_cfg(), clip_model, model.classnames, device=self.device,
                templates=model.templates,
            )
            try:  # the learnables' shapes: the widths and depth of the backbone
                check_fits(self.model.prompt_learner, model.state_dict, self.origin, "EnPrompt",
                            self._backbone_hint(clip_model, weights))
            except ValueError as e:
                raise TrainedModelError(str(e)) from None
            self._check_clip_sha256(weights)  # same architecture: are they the same weights?
            self.model.prompt_learner.load_state_dict(model.state_dict, strict=True)
            self.model.eval()
            self.transform = build_transform(model.input_cfg(), is_train=False)
        self.input_size = tuple(model.input["SIZE"])

    # ------------------------------------------------------------ builders
    @classmethod
    def from_run(cls, run_dir, **kwargs):
        """The model of a finished run folder (``train.py --output-dir``).

        Rebuilt from the run's ``manifest.json`` (config, class names, CLIP
        SHA256, final checkpoint); the default class list is the run's
        classes. An ``--eval-only`` run gives the model it evaluated, with
        the classes it was evaluated on. ``kwargs``: see the class.
        """
        return cls(read_run(run_dir), **kwargs)

    @classmethod
    def from_file(cls, path, **kwargs):
        """The model of a file written by ``python -m enprompt.export`` (or :meth:`to_file`)."""
        return cls(load_model_file(path), **kwargs)

    def to_file(self, path):
        """Write the model (trained class list, not the current one) to a ``.safetensors`` file."""
        return save_model_file(self.trained, path)

    # ------------------------------------------------------------ classes
    @property
    def classes(self):
        """The current class list."""
        return list(self.model.classnames)

    @property
    def trained_classes(self):
        """The classes the model was trained on (its default class list)."""
        return list(self.trained.classnames)

    def set_classes(self, classnames):
        """Classify over ``classnames`` from now on (any names, not only trained ones).

        Each name goes into the model's templates (e.g. ``"a photo of a {}."``)
        and through the frozen text encoder once.

        Raises:
            TypeError: a single string instead of a list.
            ValueError: an empty list, an empty name, or a name twice.
        """
        if isinstance(classnames, str):
            raise TypeError(
                f"set_classes needs a list of class names, got the string {classnames!r}; "
                "e.g. set_classes(['tabby cat', 'golden retriever'])"
            )
        names = [str(name).strip() for name in classnames]
        if not names:
            raise ValueError("set_classes needs at least one class name, got an empty list")
        empty = [i for i, name in enumerate(names) if not name]
        if empty:
            raise ValueError(f"class name {empty[0]} is empty; every class needs a name")
        doubled = sorted({name for name in names if names.count(name) > 1})
        if doubled:
            raise ValueError(f"class names given twice: {doubled}; each class needs its own name")
        with _quiet(self.verbose), torch.no_grad():
            self.model.set_classnames(names)

    # ------------------------------------------------------------ prediction
    @torch.no_grad()
    def logits(self, inputs, batch_size=None, progress=False):
        """The logits [N, C] (float32, on the CPU) of the images over the current classes.

        Args:
            inputs: an image or a list of images (paths, PIL images, tensors;
                see :mod:`enprompt.inference.inputs`).
            batch_size (int, optional): default: the classifier's.
            progress (bool): show a progress bar (tqdm, on stderr).
        """
        return self._run(inputs, batch_size, progress)[1]

    def predict(self, inputs, top_k=5, batch_size=None, progress=False):
        """The ``top_k`` classes of each image, as a list of :class:`Prediction`.

        A batch tensor contributes one prediction per image, in order.
        """
        top_k = _positive_int("top_k", top_k)
        sources, logits = self._run(inputs, batch_size, progress)
        probs = logits.softmax(dim=-1)
        values, indices = probs.topk(min(top_k, probs.shape[1]), dim=-1)
        classes = self.classes
        return [
            Prediction(source, [classes[i] for i in idx], idx, val)
            for source, idx, val in zip(sources, indices.tolist(), values.tolist())
        ]

    @torch.no_grad()
    def _run(self, inputs, batch_size, progress):
        batch_size = _positive_int("batch_size", batch_size or self.batch_size)
        items = image_items(inputs, self.transform, self.input_size)
        sources, outputs = [], []
        chunks = batches(items, batch_size)
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, total=-(-len(items) // batch_size), unit="batch", desc="Predicting")
        for names, images in chunks:
            with autocast_for(self.precision, self.device):
                logits = self.model(images.to(self.device))
            sources.extend(names)
            outputs.append(logits.float().cpu())
        if not outputs:
            return [], torch.empty(0, len(self.classes))
        return sources, torch.cat(outputs)

    # ------------------------------------------------------------ checks
    @property
    def origin(self):
        """What the model was read from (a run folder or a model file), for messages."""
        source = self.trained.source or {}
        return source.get("model_file") or source.get("run_dir") or "the model"

    def _clip_weights(self, clip_weights):
        if clip_weights:
            return clip_weights
        used = (self.trained.source or {}).get("clip_weights") or ""
        return used if used and osp.isfile(osp.expanduser(used)) else ""

    def _backbone_hint(self, clip_model, weights):
        where = weights or f"the CLIP cache's {self.trained.backbone} weights"
        return (
            f"It was trained on {self.trained.backbone}, and the CLIP weights {where} are "
            f"another model ({describe_clip(clip_model)}). Pass the CLIP weights it was trained "
            "with: clip_weights=PATH (python -m enprompt.predict --clip-weights PATH)."
        )

    def _check_backbone(self, clip_model, weights):
        """The CLIP must have the depth and resolution the model was trained for."""
        depth = self.trained.settings.get("PROMPT_DEPTH_VISION", 0)
        layers = len(clip_model.visual.transformer.resblocks)
        resolution = clip_model.visual.input_resolution
        size = tuple(self.trained.input["SIZE"])
        if depth > layers or size != (resolution, resolution):
            raise TrainedModelError(
                f"{self.origin} does not fit these CLIP weights (it prompts {depth} layers of "
                f"{size[0]}x{size[1]} images). " + self._backbone_hint(clip_model, weights)
            )

    def _check_clip_sha256(self, weights):
        expected = self.trained.clip_sha256
        if not expected:
            return
        actual = clip_weights_sha256(weights, self.trained.backbone)
        if actual != expected:
            where = weights or f"the CLIP cache's {self.trained.backbone} weights"
            raise TrainedModelError(
                f"The CLIP weights {where} (SHA256 {actual}) are not the weights {self.origin} "
                f"was trained with (SHA256 {expected}); its EnLa and visual prompts fit only "
                "those. Pass that file: clip_weights=PATH (python -m enprompt.predict "
                "--clip-weights PATH)."
            )

    def __repr__(self):
        if not hasattr(self, "model"):  # failed while being built
            return f"EnPromptClassifier({self.trained.backbone}, not built, from {self.origin})"
        return (
            f"EnPromptClassifier({self.trained.backbone}, {len(self.classes)} classes, "
            f"device={self.device.type}, precision={self.precision}, from {self.origin})"
        )


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value
