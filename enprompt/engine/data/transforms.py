"""Image transforms with Dassl's order and semantics (``dassl.data.transforms``).

Training (``is_train=True``), in this order, each only if named in
``INPUT.TRANSFORMS``: resize to ``INPUT.SIZE`` (only when neither
``random_crop`` nor ``random_resized_crop`` is listed), ``random_translation``,
``random_crop`` (padding ``INPUT.CROP_PADDING``), ``random_resized_crop``
(scale ``INPUT.RRCROP_SCALE``), ``random_flip``, ``colorjitter``,
``randomgrayscale``, ``gaussian_blur``, to-tensor, ``cutout``, ``normalize``,
``gaussian_noise``.

Test: resize the shorter side to ``max(INPUT.SIZE)``, centre-crop
``INPUT.SIZE``, to-tensor, ``normalize`` if listed.

Dassl's auto-augment policies and RandAugment variants are not part of the
built-in engine; asking for them is an error that says so.
"""
import random

import torch
import torchvision.transforms as T
from torchvision.transforms import InterpolationMode

__all__ = ["AVAI_CHOICES", "INTERPOLATION_MODES", "build_transform"]

AVAI_CHOICES = [
    "random_flip",
    "random_resized_crop",
    "normalize",
    "random_crop",
    "random_translation",
    "center_crop",  # the test transform always centre-crops
    "cutout",
    "gaussian_noise",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
]

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


class Random2DTranslation:
    """With probability ``p``, enlarge by 1/8 and random-crop back to ``(height, width)``."""

    def __init__(self, height, width, p=0.5, interpolation=InterpolationMode.BILINEAR):
        self.height, self.width, self.p = height, width, p
        self.interpolation = interpolation

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return T.functional.resize(img, [self.height, self.width], self.interpolation)
        new_w, new_h = round(self.width * 1.125), round(self.height * 1.125)
        img = T.functional.resize(img, [new_h, new_w], self.interpolation)
        x = int(round(random.uniform(0, new_w - self.width)))
        y = int(round(random.uniform(0, new_h - self.height)))
        return T.functional.crop(img, y, x, self.height, self.width)


class Cutout:
    """Zero out ``n_holes`` random squares of side ``length`` in a tensor image."""

    def __init__(self, n_holes=1, length=16):
        self.n_holes, self.length = n_holes, length

    def __call__(self, img):
        h, w = img.shape[1:]
        mask = torch.ones(h, w, dtype=img.dtype)
        for _ in range(self.n_holes):
            y, x = random.randrange(h), random.randrange(w)
            half = self.length // 2
            mask[max(0, y - half):min(h, y + half), max(0, x - half):min(w, x + half)] = 0
        return img * mask


class GaussianNoise:
    """Add Gaussian noise (mean, std) to a tensor image with probability ``p``."""

    def __init__(self, mean=0, std=0.15, p=0.5):
        self.mean, self.std, self.p = mean, std, p

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return img
        return img + torch.randn(img.size()) * self.std + self.mean


def _check_choices(choices):
    unknown = [c for c in choices if c not in AVAI_CHOICES]
    if unknown:
        raise ValueError(
            f"INPUT.TRANSFORMS has unknown transform(s) {unknown}; the built-in engine "
            f"supports {AVAI_CHOICES} (auto-augment/RandAugment policies need the real "
            "Dassl installed)."
        )


def build_transform(cfg, is_train=True, choices=None):
    """Build the train or test transform described by ``cfg.INPUT``.

    Returns None when ``INPUT.NO_TRANSFORM`` is set.
    """
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    if choices is None:
        choices = cfg.INPUT.TRANSFORMS
    _check_choices(choices)
    if cfg.INPUT.INTERPOLATION not in INTERPOLATION_MODES:
        raise ValueError(
            f"INPUT.INTERPOLATION must be one of {list(INTERPOLATION_MODES)}, "
            f"got {cfg.INPUT.INTERPOLATION!r}"
        )
    normalize = T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)
    if is_train:
        return _build_transform_train(cfg, choices, normalize)
    return _build_transform_test(cfg, choices, normalize)


def _build_transform_train(cfg, choices, normalize):
    print("Building transform_train")
    interp = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
    size = list(cfg.INPUT.SIZE)
    tfms = []
    if "random_crop" not in choices and "random_resized_crop" not in choices:
        print(f"+ resize to {size[0]}x{size[1]}")
        tfms.append(T.Resize(size, interpolation=interp))
    if "random_translation" in choices:
        print("+ random translation")
        tfms.append(Random2DTranslation(size[0], size[1]))
    if "random_crop" in choices:
        print(f"+ random crop (padding = {cfg.INPUT.CROP_PADDING})")
        tfms.append(T.RandomCrop(size, padding=cfg.INPUT.CROP_PADDING))
    if "random_resized_crop" in choices:
        scale = tuple(cfg.INPUT.RRCROP_SCALE)
        print(f"+ random resized crop (size={tuple(size)}, scale={scale})")
        tfms.append(T.RandomResizedCrop(size, scale=scale, interpolation=interp))
    if "random_flip" in choices:
        print("+ random flip")
        tfms.append(T.RandomHorizontalFlip())
    if "colorjitter" in choices:
        print("+ color jitter")
        tfms.append(T.ColorJitter(
            brightness=cfg.INPUT.COLORJITTER_B, contrast=cfg.INPUT.COLORJITTER_C,
            saturation=cfg.INPUT.COLORJITTER_S, hue=cfg.INPUT.COLORJITTER_H,
        ))
    if "randomgrayscale" in choices:
        print("+ random gray scale")
        tfms.append(T.RandomGrayscale(p=cfg.INPUT.RGS_P))
    if "gaussian_blur" in choices:
        print(f"+ gaussian blur (kernel={cfg.INPUT.GB_K})")
        tfms.append(T.RandomApply([T.GaussianBlur(cfg.INPUT.GB_K)], p=cfg.INPUT.GB_P))
    print("+ to torch tensor of range [0, 1]")
    tfms.append(T.ToTensor())
    if "cutout" in choices:
        print(f"+ cutout (n_holes={cfg.INPUT.CUTOUT_N}, length={cfg.INPUT.CUTOUT_LEN})")
        tfms.append(Cutout(cfg.INPUT.CUTOUT_N, cfg.INPUT.CUTOUT_LEN))
    if "normalize" in choices:
        print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        tfms.append(normalize)
    if "gaussian_noise" in choices:
        print(f"+ gaussian noise (mean={cfg.INPUT.GN_MEAN}, std={cfg.INPUT.GN_STD})")
        tfms.append(GaussianNoise(cfg.INPUT.GN_MEAN, cfg.INPUT.GN_STD))
    return T.Compose(tfms)


def _build_transform_test(cfg, choices, normalize):
    print("Building transform_test")
    interp = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
    size = list(cfg.INPUT.SIZE)
    print(f"+ resize the smaller edge to {max(size)}")
    tfms = [T.Resize(max(size), interpolation=interp)]
    print(f"+ {size[0]}x{size[1]} center crop")
    tfms.append(T.CenterCrop(size))
    print("+ to torch tensor of range [0, 1]")
    tfms.append(T.ToTensor())
    if "normalize" in choices:
        print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        tfms.append(normalize)
    return T.Compose(tfms)
