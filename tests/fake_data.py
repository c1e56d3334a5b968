"""Tiny fake copies of the 15 datasets, in their exact on-disk layouts.

Each ``make_<name>(root, ...)`` writes ``<root>/<dataset folder>/`` with a
handful of small JPEGs and every annotation file the reader needs, and returns
a :class:`FakeDataset`. ``<name>`` is the config basename (``dtd``,
``oxford_pets``, ...), so ``make_dataset("dtd", root)`` works too and the
result can be passed to ``train.py`` as ``--root root
--dataset-config-file configs/datasets/<name>.yaml``.

The layouts keep the tricky parts of the real data: Caltech's ignored and
renamed folders, EuroSAT's renamed classes, Stanford Cars' ``.mat`` files with
the year at the end of the class name, SUN397's nested class paths, UCF101's
CamelCase actions, Pets' breed names taken from image names, Aircraft variant
names with spaces and slashes, ImageNet-A/R's ``README.txt``.

``class_dependent=True`` paints every image of a class in one colour (with a
little per-image jitter), so a model can actually learn the task; otherwise
colours are random (but deterministic per file).

Readers that create their own split need, per class, at least 4 images for
the 50/20/30 split (DTD, Caltech101, Food101, EuroSAT, Flowers) and at least
3 trainval images for the 80/20 split (Pets, Cars, SUN397, UCF101).
"""
import colorsys
import json
import os
import os.path as osp
import random
import zlib
from dataclasses import dataclass, field

from PIL import Image

__all__ = [
    "FakeDataset",
    "FAKE_BUILDERS",
    "make_dataset",
    "make_all",
    "read_dataset",
    "write_image",
    "class_color",
    "make_imagenet",
    "make_caltech101",
    "make_oxford_pets",
    "make_stanford_cars",
    "make_oxford_flowers",
    "make_food101",
    "make_fgvc_aircraft",
    "make_sun397",
    "make_dtd",
    "make_eurosat",
    "make_ucf101",
    "make_imagenetv2",
    "make_imagenet_sketch",
    "make_imagenet_a",
    "make_imagenet_r",
]


@dataclass
class FakeDataset:
    """What a ``make_*`` function built.

    Attributes:
        name (str): config basename, e.g. ``"dtd"``.
        reader (str): registered reader name, e.g. ``"DescribableTextures"``.
        root (str): the folder to pass as ``DATASET.ROOT`` / ``--root``.
        dataset_dir (str): ``root/<dataset folder>``.
        classnames (list[str]): class names the reader is expected to give,
            in label order.
    """

    name: str
    reader: str
    root: str
    dataset_dir: str
    classnames: list = field(default_factory=list)

    @property
    def num_classes(self):
        return len(self.classnames)


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------
def class_color(label, num_classes):
    """A distinct, saturated RGB colour for ``label`` out of ``num_classes``."""
    hue = label / max(num_classes, 1)
    r, g, b = colorsys.hsv_to_rgb(hue, 0.9, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def write_image(path, color=None, size=8):
    """Write a ``size`` x ``size`` JPEG at ``path`` (folders are created).

    Args:
        path (str): file to write.
        color (tuple or None): RGB; ``None`` picks a colour from the path, so
            the same path always gets the same image.
        size (int): side length in pixels.
    """
    rng = random.Random(zlib.crc32(path.encode()))
    if color is None:
        color = tuple(rng.randrange(256) for _ in range(3))
    else:
        # small jitter so that images of one class are not byte-identical
        color = tuple(min(255, max(0, c + rng.randint(-12, 12))) for c in color)
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new("RGB", (size, size), color).save(path, format="JPEG")


class _Painter:
    """Writes the images of one fake dataset (shared colour and size settings)."""

    def __init__(self, num_classes, class_dependent, image_size):
        self.num_classes = num_classes
        self.class_dependent = class_dependent
        self.image_size = image_size

    def __call__(self, path, label):
        color = class_color(label, self.num_classes) if self.class_dependent else None
        write_image(path, color, self.image_size)


def _first(available, n, what):
    """The first ``n`` of ``available``; a clear error where there are fewer."""
    if n > len(available):
        raise ValueError(f"at most {len(available)} {what} are available, got {n}")
    return available[:n]


def _write_lines(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))


# --------------------------------------------------------------------------
# Folder-per-class datasets (DTD, Food101, EuroSAT, Caltech101)
# --------------------------------------------------------------------------
DTD_CLASSES = [
    "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed",
    "cracked", "crosshatched", "crystalline", "dotted", "fibrous", "flecked",
    "freckled", "frilly", "gauzy", "grid", "grooved", "honeycombed",
    "interlaced", "knitted", "lacelike", "lined", "marbled", "matted",
    "meshed", "paisley", "perforated", "pitted", "pleated", "polka-dotted",
    "porous", "potholed", "scaly", "smeared", "spiralled", "sprinkled",
    "stained", "stratified", "striped", "studded", "swirly", "veined",
    "waffled", "woven", "wrinkled", "zigzagged",
]

FOOD101_CLASSES = [
    "apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare",
    "beet_salad", "beignets", "bibimbap", "bread_pudding", "breakfast_burrito",
]

# (folder, expected class name) in sorted folder order
EUROSAT_CLASSES = [
    ("AnnualCrop", "Annual Crop Land"),
    ("Forest", "Forest"),
    ("HerbaceousVegetation", "Herbaceous Vegetation Land"),
    ("Highway", "Highway or Road"),
    ("Industrial", "Industrial Buildings"),
    ("Pasture", "Pasture Land"),
    ("PermanentCrop", "Permanent Crop Land"),
    ("Residential", "Residential Buildings"),
    ("River", "River"),
    ("SeaLake", "Sea or Lake"),
]

# Caltech101 folders in sorted (ASCII) order: the two ignored folders and the
# four renamed ones come first, so every fake Caltech101 contains them.
CALTECH_IGNORED = ["BACKGROUND_Google", "Faces_easy"]
CALTECH_CLASSES = [
    ("Faces", "face"),
    ("Leopards", "leopard"),
    ("Motorbikes", "motorbike"),
    ("accordion", "accordion"),
    ("airplanes", "airplane"),
    ("anchor", "anchor"),
    ("ant", "ant"),
    ("barrel", "barrel"),
]


def _make_class_folders(dataset_dir, image_folder, folders, n_per_class, paint, image_name):
    """Write ``n_per_class`` images into ``<image_folder>/<folder>/`` for each folder; returns ``dataset_dir``."""
    for label, folder in enumerate(folders):
        for i in range(n_per_class):
            paint(osp.join(dataset_dir, image_folder, folder, image_name(folder, i)), label)
    return dataset_dir


def make_dtd(root, n_classes=4, n_per_class=5, class_dependent=False, image_size=8):
    """Describable Textures: ``dtd/images/<texture>/<texture>_NNNN.jpg``.

    With ``n_per_class`` >= 4 the reader's 50/20/30 split works; the train
    part has ``round(n_per_class / 2)`` images per class.
    """
    folders = _first(DTD_CLASSES, n_classes, "DTD classes")
    dataset_dir = _make_class_folders(
        osp.join(root, "dtd"), "images", folders, n_per_class, _Painter(n_classes, class_dependent, image_size),
        lambda c, i: f"{c}_{i + 1:04d}.jpg",
    )
    return FakeDataset("dtd", "DescribableTextures", root, dataset_dir, list(folders))


def make_food101(root, n_classes=3, n_per_class=5, class_dependent=False, image_size=8):
    """Food-101: ``food-101/images/<dish>/<id>.jpg`` (plus ``meta/``, unused)."""
    folders = _first(FOOD101_CLASSES, n_classes, "Food101 classes")
    dataset_dir = _make_class_folders(
        osp.join(root, "food-101"), "images", folders, n_per_class, _Painter(n_classes, class_dependent, image_size),
        lambda c, i: f"{100000 + 7 * i + len(c)}.jpg",
    )
    _write_lines(osp.join(dataset_dir, "meta", "classes.txt"), folders)
    return FakeDataset("food101", "Food101", root, dataset_dir, list(folders))


def make_eurosat(root, n_classes=3, n_per_class=5, class_dependent=False, image_size=8):
    """EuroSAT: ``eurosat/2750/<Class>/<Class>_N.jpg``; classes get EuroSAT's long names."""
    chosen = _first(EUROSAT_CLASSES, n_classes, "EuroSAT classes")
    dataset_dir = _make_class_folders(
        osp.join(root, "eurosat"), "2750", [f for f, _ in chosen], n_per_class,
        _Painter(n_classes, class_dependent, image_size), lambda c, i: f"{c}_{i + 1}.jpg",
    )
    return FakeDataset("eurosat", "EuroSAT", root, dataset_dir, [n for _, n in chosen])


def make_caltech101(root, n_classes=6, n_per_class=5, class_dependent=False, image_size=8):
    """Caltech-101: ``caltech-101/101_ObjectCategories/<class>/image_NNNN.jpg``.

    Always includes the ignored ``BACKGROUND_Google`` and ``Faces_easy``
    folders and the renamed ``Faces``, ``Leopards``, ``Motorbikes`` (and
    ``airplanes`` when ``n_classes`` >= 5).
    """
    chosen = _first(CALTECH_CLASSES, n_classes, "Caltech101 classes")
    dataset_dir = _make_class_folders(
        osp.join(root, "caltech-101"), "101_ObjectCategories", CALTECH_IGNORED + [f for f, _ in chosen],
        n_per_class, _Painter(n_classes, class_dependent, image_size), lambda c, i: f"image_{i + 1:04d}.jpg",
    )
    return FakeDataset("caltech101", "Caltech101", root, dataset_dir, [n for _, n in chosen])


# --------------------------------------------------------------------------
# Annotation-file datasets
# --------------------------------------------------------------------------
# Real Oxford-IIIT Pet class ids are the breeds in case-insensitive order;
# cats are capitalised, dogs are lower case.
PETS_BREEDS = [
    "Abyssinian", "american_bulldog", "american_pit_bull_terrier",
    "basset_hound", "beagle", "Bengal", "Birman", "Bombay", "boxer",
    "British_Shorthair",
]


def make_oxford_pets(root, n_classes=4, n_trainval=4, n_test=2, class_dependent=False, image_size=8):
    """Oxford-IIIT Pet: ``oxford_pets/images/<Breed>_<n>.jpg`` and
    ``annotations/{trainval,test}.txt`` (``name class_id species breed_id``)."""
    breeds = _first(PETS_BREEDS, n_classes, "Pets breeds")
    dataset_dir = osp.join(root, "oxford_pets")
    paint = _Painter(n_classes, class_dependent, image_size)
    lines = {"trainval": [], "test": []}
    species_ids = {"cat": 0, "dog": 0}
    for label, breed in enumerate(breeds):
        species = "cat" if breed[0].isupper() else "dog"
        species_ids[species] += 1
        for i in range(n_trainval + n_test):
            imname = f"{breed}_{i + 1}"
            paint(osp.join(dataset_dir, "images", imname + ".jpg"), label)
            part = "trainval" if i < n_trainval else "test"
            lines[part].append(
                f"{imname} {label + 1} {1 if species == 'cat' else 2} {species_ids[species]}"
            )
    for part, part_lines in lines.items():
        _write_lines(osp.join(dataset_dir, "annotations", f"{part}.txt"), part_lines)
    classnames = [b.lower() for b in breeds]
    return FakeDataset("oxford_pets", "OxfordPets", root, dataset_dir, classnames)


CARS_CLASSES = [
    "AM General Hummer SUV 2000",
    "Acura RL Sedan 2012",
    "Aston Martin V8 Vantage Convertible 2012",
    "BMW M3 Coupe 2012",
    "Chevrolet Corvette ZR1 2012",
    "Dodge Caliber Wagon 2007",
]


def _cars_struct(fnames, classes):
    """A 1 x N MATLAB struct array like Stanford Cars' annotation files."""
    import numpy as np

    dtype = [(k, "O") for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")]
    annos = np.zeros((1, len(fnames)), dtype=dtype)
    for i, (fname, cls) in enumerate(zip(fnames, classes)):
        for k in ("bbox_x1", "bbox_y1"):
            annos[0, i][k] = np.array([[1]], dtype=np.uint8)
        for k in ("bbox_x2", "bbox_y2"):
            annos[0, i][k] = np.array([[6]], dtype=np.uint8)
        annos[0, i]["class"] = np.array([[cls]], dtype=np.uint8)
        annos[0, i]["fname"] = fname
    return annos


def make_stanford_cars(root, n_classes=3, n_train=4, n_test=2, class_dependent=False, image_size=8):
    """Stanford Cars: ``cars_train/``, ``cars_test/``, ``devkit/cars_meta.mat``,
    ``devkit/cars_train_annos.mat`` and ``cars_test_annos_withlabels.mat``
    (written with ``scipy.io.savemat``). Class names end with the year in the
    ``.mat`` file; the reader moves it to the front."""
    import numpy as np
    from scipy.io import savemat

    chosen = _first(CARS_CLASSES, n_classes, "Stanford Cars classes")
    dataset_dir = osp.join(root, "stanford_cars")
    paint = _Painter(n_classes, class_dependent, image_size)
    meta = np.empty((1, len(CARS_CLASSES)), dtype=object)
    for i, name in enumerate(CARS_CLASSES):
        meta[0, i] = name
    os.makedirs(osp.join(dataset_dir, "devkit"), exist_ok=True)
    savemat(osp.join(dataset_dir, "devkit", "cars_meta.mat"), {"class_names": meta})

    for folder, n, anno_path in (
        ("cars_train", n_train, osp.join("devkit", "cars_train_annos.mat")),
        ("cars_test", n_test, "cars_test_annos_withlabels.mat"),
    ):
        fnames, classes = [], []
        # interleave classes, as in the real annotation files
        for i in range(n):
            for label in range(n_classes):
                fname = f"{len(fnames) + 1:05d}.jpg"
                paint(osp.join(dataset_dir, folder, fname), label)
                fnames.append(fname)
                classes.append(label + 1)
        savemat(osp.join(dataset_dir, anno_path), {"annotations": _cars_struct(fnames, classes)})

    classnames = []
    for name in chosen:
        words = name.split(" ")
        classnames.append(" ".join([words[-1]] + words[:-1]))
    return FakeDataset("stanford_cars", "StanfordCars", root, dataset_dir, classnames)


FLOWERS_NAMES = [
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea",
    "english marigold", "tiger lily",
]


def make_oxford_flowers(root, n_classes=3, n_per_class=5, class_dependent=False, image_size=8):
    """Oxford Flowers 102: ``jpg/image_NNNNN.jpg``, ``imagelabels.mat``
    (1-based labels, classes interleaved) and ``cat_to_name.json``."""
    import numpy as np
    from scipy.io import savemat

    names = _first(FLOWERS_NAMES, n_classes, "Flowers classes")
    dataset_dir = osp.join(root, "oxford_flowers")
    paint = _Painter(n_classes, class_dependent, image_size)
    # the last class appears first in the label file, as label order in the
    # real file is not sorted either
    labels = []
    for i in range(n_per_class):
        labels.extend(range(n_classes, 0, -1))
    for i, label in enumerate(labels):
        paint(osp.join(dataset_dir, "jpg", f"image_{i + 1:05d}.jpg"), label - 1)
    savemat(
        osp.join(dataset_dir, "imagelabels.mat"),
        {"labels": np.array([labels], dtype=np.uint8)},
    )
    cat_to_name = {str(i + 1): name for i, name in enumerate(FLOWERS_NAMES)}
    with open(osp.join(dataset_dir, "cat_to_name.json"), "w") as f:
        json.dump(cat_to_name, f)
    return FakeDataset("oxford_flowers", "OxfordFlowers", root, dataset_dir, names)


AIRCRAFT_VARIANTS = ["707-320", "A300B4", "F/A-18", "Gulfstream IV", "Cessna 172", "Tu-134"]


def make_fgvc_aircraft(root, n_classes=3, n_per_split=2, class_dependent=False, image_size=8):
    """FGVC-Aircraft (``data/`` of the official archive renamed to
    ``fgvc_aircraft/``): ``images/<id>.jpg``, ``variants.txt`` and
    ``images_variant_{train,val,test}.txt`` (``<id> <variant words>``)."""
    variants = _first(AIRCRAFT_VARIANTS, n_classes, "Aircraft variants")
    dataset_dir = osp.join(root, "fgvc_aircraft")
    paint = _Painter(n_classes, class_dependent, image_size)
    _write_lines(osp.join(dataset_dir, "variants.txt"), AIRCRAFT_VARIANTS)
    image_id = 1000000
    for split in ("train", "val", "test"):
        lines = []
        for i in range(n_per_split):
            for label, variant in enumerate(variants):
                image_id += 13
                paint(osp.join(dataset_dir, "images", f"{image_id}.jpg"), label)
                lines.append(f"{image_id} {variant}")
        _write_lines(osp.join(dataset_dir, f"images_variant_{split}.txt"), lines)
    return FakeDataset("fgvc_aircraft", "FGVCAircraft", root, dataset_dir, variants)


# (ClassName.txt entry, expected class name)
SUN397_CLASSES = [
    ("/a/abbey", "abbey"),
    ("/a/apartment_building/outdoor", "outdoor apartment_building"),
    ("/b/bakery/shop", "shop bakery"),
    ("/b/bamboo_forest", "bamboo_forest"),
    ("/c/campus", "campus"),
]


def make_sun397(root, n_classes=3, n_train=4, n_test=2, class_dependent=False, image_size=8):
    """SUN397: ``sun397/SUN397/<letter>/<class path>/sun_*.jpg`` plus
    ``ClassName.txt``, ``Training_01.txt`` and ``Testing_01.txt`` next to it."""
    chosen = _first(SUN397_CLASSES, n_classes, "SUN397 classes")
    dataset_dir = osp.join(root, "sun397")
    paint = _Painter(n_classes, class_dependent, image_size)
    _write_lines(osp.join(dataset_dir, "ClassName.txt"), [c for c, _ in chosen])
    lines = {"Training_01.txt": [], "Testing_01.txt": []}
    for label, (cpath, _) in enumerate(chosen):
        for i in range(n_train + n_test):
            rel = f"{cpath}/sun_{label:02d}{i:04d}abc.jpg"
            paint(osp.join(dataset_dir, "SUN397", rel[1:]), label)
            lines["Training_01.txt" if i < n_train else "Testing_01.txt"].append(rel)
    for name, part_lines in lines.items():
        _write_lines(osp.join(dataset_dir, name), part_lines)
    return FakeDataset("sun397", "SUN397", root, dataset_dir, [n for _, n in chosen])


# (classInd.txt action, expected image folder / class name)
UCF101_CLASSES = [
    ("ApplyEyeMakeup", "Apply_Eye_Makeup"),
    ("ApplyLipstick", "Apply_Lipstick"),
    ("Archery", "Archery"),
    ("BabyCrawling", "Baby_Crawling"),
    ("YoYo", "Yo_Yo"),
]


def make_ucf101(root, n_classes=3, n_train=4, n_test=2, class_dependent=False, image_size=8):
    """UCF101 middle frames: ``ucf101/UCF-101-midframes/<Renamed_Action>/v_*.jpg``
    and ``ucfTrainTestlist/{classInd,trainlist01,testlist01}.txt`` (which name
    the ``.avi`` videos under their CamelCase action)."""
    chosen = _first(UCF101_CLASSES, n_classes, "UCF101 classes")
    dataset_dir = osp.join(root, "ucf101")
    paint = _Painter(n_classes, class_dependent, image_size)
    list_dir = osp.join(dataset_dir, "ucfTrainTestlist")
    _write_lines(
        osp.join(list_dir, "classInd.txt"),
        [f"{i + 1} {action}" for i, (action, _) in enumerate(chosen)],
    )
    train_lines, test_lines = [], []
    for label, (action, folder) in enumerate(chosen):
        for i in range(n_train + n_test):
            group = 8 + i if i < n_train else 1 + i
            video = f"v_{action}_g{group:02d}_c01"
            paint(osp.join(dataset_dir, "UCF-101-midframes", folder, video + ".jpg"), label)
            if i < n_train:
                train_lines.append(f"{action}/{video}.avi {label + 1}")
            else:
                test_lines.append(f"{action}/{video}.avi")
    _write_lines(osp.join(list_dir, "trainlist01.txt"), train_lines)
    _write_lines(osp.join(list_dir, "testlist01.txt"), test_lines)
    return FakeDataset("ucf101", "UCF101", root, dataset_dir, [f for _, f in chosen])


# --------------------------------------------------------------------------
# ImageNet family
# --------------------------------------------------------------------------
IMAGENET_CLASSES = [
    ("n01440764", "tench"),
    ("n01443537", "goldfish"),
    ("n01484850", "great white shark"),
    ("n01491361", "tiger shark"),
    ("n01494475", "hammerhead shark"),
    ("n01496331", "electric ray"),
    ("n01498041", "stingray"),
    ("n01514668", "rooster"),
]


def _write_classnames(dataset_dir, n_classes):
    _write_lines(
        osp.join(dataset_dir, "classnames.txt"),
        [f"{wnid} {name}" for wnid, name in IMAGENET_CLASSES[:n_classes]],
    )


def make_imagenet(
    root, n_classes=4, n_train=3, n_val=2, class_dependent=False, image_size=8, sort_val=True
):
    """ImageNet: ``imagenet/images/{train,val}/<wnid>/*.JPEG`` and ``classnames.txt``.

    ``sort_val=False`` leaves the validation images loose in ``images/val/``,
    as in the official archive before ``valprep.sh``.
    """
    chosen = _first(IMAGENET_CLASSES, n_classes, "ImageNet classes")
    dataset_dir = osp.join(root, "imagenet")
    paint = _Painter(n_classes, class_dependent, image_size)
    _write_classnames(dataset_dir, n_classes)
    val_index = 0
    for label, (wnid, _) in enumerate(chosen):
        for i in range(n_train):
            paint(osp.join(dataset_dir, "images", "train", wnid, f"{wnid}_{i + 1}.JPEG"), label)
        for i in range(n_val):
            val_index += 1
            name = f"ILSVRC2012_val_{val_index:08d}.JPEG"
            sub = (wnid, name) if sort_val else (name,)
            paint(osp.join(dataset_dir, "images", "val", *sub), label)
    return FakeDataset("imagenet", "ImageNet", root, dataset_dir, [n for _, n in chosen])


def make_imagenetv2(root, n_classes=4, n_per_class=2, class_dependent=False, image_size=8):
    """ImageNetV2 matched-frequency: ``imagenetv2/imagenetv2-matched-frequency-format-val/<label>/``
    and ``classnames.txt`` (label i is the i-th line)."""
    chosen = _first(IMAGENET_CLASSES, n_classes, "ImageNet classes")
    dataset_dir = osp.join(root, "imagenetv2")
    paint = _Painter(n_classes, class_dependent, image_size)
    _write_classnames(dataset_dir, n_classes)
    for label in range(n_classes):
        for i in range(n_per_class):
            paint(
                osp.join(
                    dataset_dir, "imagenetv2-matched-frequency-format-val", str(label),
                    f"{label:04x}{i:02d}.jpeg",
                ),
                label,
            )
    return FakeDataset("imagenetv2", "ImageNetV2", root, dataset_dir, [n for _, n in chosen])


def _make_wnid_folders(root, folder, image_folder, name, reader, wnid_indices, n_per_class,
                       class_dependent, image_size, readme):
    dataset_dir = osp.join(root, folder)
    n_classes = len(wnid_indices)
    paint = _Painter(n_classes, class_dependent, image_size)
    # classnames.txt lists all ImageNet classes, not only the ones present
    _write_classnames(dataset_dir, len(IMAGENET_CLASSES))
    for label, index in enumerate(wnid_indices):
        wnid = IMAGENET_CLASSES[index][0]
        for i in range(n_per_class):
            paint(osp.join(dataset_dir, image_folder, wnid, f"{wnid}_{i}.jpg"), label)
    if readme:
        with open(osp.join(dataset_dir, image_folder, "README.txt"), "w") as f:
            f.write("Fake README of the dataset archive.\n")
    return FakeDataset(
        name, reader, root, dataset_dir, [IMAGENET_CLASSES[i][1] for i in wnid_indices]
    )


def make_imagenet_sketch(root, n_classes=4, n_per_class=2, class_dependent=False, image_size=8):
    """ImageNet-Sketch: ``imagenet-sketch/images/<wnid>/*.jpg`` and ``classnames.txt``."""
    indices = list(_first(range(len(IMAGENET_CLASSES)), n_classes, "ImageNet classes"))
    return _make_wnid_folders(
        root, "imagenet-sketch", "images", "imagenet_sketch", "ImageNetSketch",
        indices, n_per_class, class_dependent, image_size, readme=False,
    )


def _subset_indices(n_classes):
    # ImageNet-A/R hold a subset of the 1000 classes: take every other one
    indices = list(range(0, len(IMAGENET_CLASSES), 2))
    indices += [i for i in range(len(IMAGENET_CLASSES)) if i not in indices]
    return sorted(_first(indices, n_classes, "ImageNet classes"))


def make_imagenet_a(root, n_classes=3, n_per_class=2, class_dependent=False, image_size=8):
    """ImageNet-A: ``imagenet-adversarial/imagenet-a/<wnid>/`` (a subset of the
    ImageNet classes, labelled 0..n-1 in sorted order) plus ``README.txt``."""
    return _make_wnid_folders(
        root, "imagenet-adversarial", "imagenet-a", "imagenet_a", "ImageNetA",
        _subset_indices(n_classes), n_per_class, class_dependent, image_size, readme=True,
    )


def make_imagenet_r(root, n_classes=3, n_per_class=2, class_dependent=False, image_size=8):
    """ImageNet-R: ``imagenet-rendition/imagenet-r/<wnid>/`` plus ``README.txt``."""
    return _make_wnid_folders(
        root, "imagenet-rendition", "imagenet-r", "imagenet_r", "ImageNetR",
        _subset_indices(n_classes), n_per_class, class_dependent, image_size, readme=True,
    )


FAKE_BUILDERS = {
    "imagenet": make_imagenet,
    "caltech101": make_caltech101,
    "oxford_pets": make_oxford_pets,
    "stanford_cars": make_stanford_cars,
    "oxford_flowers": make_oxford_flowers,
    "food101": make_food101,
    "fgvc_aircraft": make_fgvc_aircraft,
    "sun397": make_sun397,
    "dtd": make_dtd,
    "eurosat": make_eurosat,
    "ucf101": make_ucf101,
    "imagenetv2": make_imagenetv2,
    "imagenet_sketch": make_imagenet_sketch,
    "imagenet_a": make_imagenet_a,
    "imagenet_r": make_imagenet_r,
}


def make_dataset(name, root, **kwargs):
    """Build the fake dataset whose config basename is ``name`` under ``root``."""
    if name not in FAKE_BUILDERS:
        raise KeyError(f"no fake dataset named {name!r}; choose from {sorted(FAKE_BUILDERS)}")
    return FAKE_BUILDERS[name](root, **kwargs)


def make_all(root, **kwargs):
    """Build all 15 fake datasets under ``root``; returns ``{name: FakeDataset}``."""
    return {name: make_dataset(name, root, **kwargs) for name in FAKE_BUILDERS}


def read_dataset(root, reader, num_shots=-1, seed=1, subsample="all"):
    """Build the reader registered as ``reader`` on ``root`` as ``train.py`` would.

    Python's ``random`` is seeded with ``seed`` first (``set_random_seed`` in
    ``train.py``); ``cfg.SEED`` is ``seed`` too (it names the few-shot cache).
    """
    import datasets  # noqa: F401  (registers the readers)
    from enprompt.dassl import DATASET_REGISTRY, get_cfg_default

    cfg = reader_cfg(get_cfg_default(), root, reader, num_shots, seed, subsample)
    random.seed(seed)
    return DATASET_REGISTRY.get(reader)(cfg)


def reader_cfg(cfg, root, reader, num_shots=-1, seed=1, subsample="all"):
    """Set the DATASET keys and SEED a reader reads on ``cfg`` (a Dassl default config)."""
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = reader
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.SEED = seed
    return cfg
