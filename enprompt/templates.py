"""Hand-crafted text templates for the frozen CLIP text features.

The strings are CLIP's public prompt-engineering templates, keyed the way
every CoOp-family code base keys them (``CUSTOM_TEMPLATES`` by
``DATASET.NAME``), so zero-shot numbers and EnPrompt's frozen text features
``t_c`` (docs/METHOD.md, step 1) start from the same prompts as CoOp, MaPLe and
PromptSRC.

``TRAINER.ENPROMPT.TEMPLATES`` selects the mode:

* ``"custom"``: one template per dataset, ``CUSTOM_TEMPLATES[DATASET.NAME]``
  (an image folder of your own: ``DATASET.IMAGE_FOLDER.TEMPLATE``).
* ``"ensemble"``: the 7 ``IMAGENET_TEMPLATES_SELECT`` plus, for every dataset
  except ``ImageNet``, the custom one (8 templates), as CoOp's
  ``ZeroshotCLIP2`` does. Features are averaged after L2 normalisation.
"""
from enprompt.choices import TEMPLATE_MODES, check_choice
from enprompt.data.image_folder import IMAGE_FOLDER_READER

__all__ = [
    "CUSTOM_TEMPLATES",
    "IMAGENET_TEMPLATES",
    "IMAGENET_TEMPLATES_SELECT",
    "TEMPLATE_MODES",
    "get_templates",
    "cfg_templates",
]

# One template per dataset, keyed by the registered reader name (DATASET.NAME).
CUSTOM_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "{} texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}

# CLIP's 80 ImageNet prompt-engineering templates, in CLIP's order.
IMAGENET_TEMPLATES = [
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
]

# The 7-template subset CoOp's ZeroshotCLIP2 ensembles over.
IMAGENET_TEMPLATES_SELECT = [
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
]


def get_templates(dataset_name, mode="custom", custom=None):
    """Templates used to build the class text features of a dataset.

    Args:
        dataset_name (str): the registered reader name (``DATASET.NAME``),
            a key of ``CUSTOM_TEMPLATES`` unless ``custom`` is given.
        mode (str): ``"custom"`` (one template) or ``"ensemble"`` (the 7
            ``IMAGENET_TEMPLATES_SELECT`` plus the custom one, except for
            ``ImageNet`` whose custom template is not appended).
        custom (str, optional): the dataset's own template, instead of
            ``CUSTOM_TEMPLATES[dataset_name]`` (an image folder's
            ``DATASET.IMAGE_FOLDER.TEMPLATE``).

    Returns:
        list[str]: templates, each with one ``{}`` for the class name.

    Raises:
        ValueError: unknown mode or dataset name.
    """
    check_choice("TRAINER.ENPROMPT.TEMPLATES", mode)
    if custom is None and dataset_name not in CUSTOM_TEMPLATES:
        raise ValueError(
            f"No hand-crafted template for DATASET.NAME = {dataset_name!r}; "
            f"known datasets: {sorted(CUSTOM_TEMPLATES)}. Add an entry to "
            "enprompt.templates.CUSTOM_TEMPLATES for a new dataset."
        )
    if custom is None:
        custom = CUSTOM_TEMPLATES[dataset_name]
    if mode == "custom":
        return [custom]
    templates = list(IMAGENET_TEMPLATES_SELECT)
    if dataset_name != "ImageNet":
        templates.append(custom)
    return templates


def cfg_templates(cfg, mode=None):
    """The templates of a run: :func:`get_templates` for ``DATASET.NAME`` in
    ``mode`` (default ``TRAINER.ENPROMPT.TEMPLATES``); an image folder
    (``ImageFolder``) brings its own, ``DATASET.IMAGE_FOLDER.TEMPLATE``."""
    name = cfg.DATASET.NAME
    custom = cfg.DATASET.IMAGE_FOLDER.TEMPLATE if name == IMAGE_FOLDER_READER else None
    return get_templates(name, mode or cfg.TRAINER.ENPROMPT.TEMPLATES, custom=custom)
