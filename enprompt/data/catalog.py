"""What each of the 15 datasets looks like on disk, in one table.

A :class:`DatasetLayout` holds the facts about one dataset that the reader,
the ``check`` command and the ``download-splits`` command all need: the
folder under ``DATASET.ROOT``, its image folder, the files it must contain,
the published split file and the small files that are published on Google
Drive. The folder and file names are those of the CoOp-family readers, so a
data root prepared for CoOp, CoCoOp, MaPLe or PromptSRC works unchanged.

``LAYOUTS`` is keyed by the config basename (``configs/datasets/<name>.yaml``),
which is also the name the command line and the scripts use.
"""
from dataclasses import dataclass, field

from .errors import DOCS_FILE

__all__ = ["DriveFile", "Need", "DatasetLayout", "LAYOUTS", "IMAGENET_VARIANTS", "layout_of_reader"]


@dataclass(frozen=True)
class DriveFile:
    """A small file published on Google Drive by the CoOp authors.

    Attributes:
        file_id (str): the Drive file id.
        filename (str): where it goes, relative to the dataset folder.
        extracts_to (str): for a zip archive, the folder (relative to the
            dataset folder) that extracting it creates; the archive is
            removed once extracted. Empty for plain files.
    """

    file_id: str
    filename: str
    extracts_to: str = ""

    @property
    def url(self):
        return f"https://drive.google.com/file/d/{self.file_id}/view?usp=sharing"

    @property
    def target(self):
        """What must exist for the download to count as done."""
        return self.extracts_to or self.filename


@dataclass(frozen=True)
class Need:
    """A file or folder a prepared dataset folder must contain.

    Attributes:
        path (str): relative to the dataset folder.
        kind (str): ``"file"``, ``"dir"``, or ``"class_dirs"`` (a folder of
            one sub-folder per class, with no images lying loose in it).
        how (str): how to get it, as an imperative sentence.
        only_without_split (bool): needed only to create the split file,
            i.e. not when the published ``split_zhou_*.json`` is present.
    """

    path: str
    kind: str
    how: str
    only_without_split: bool = False


@dataclass(frozen=True)
class DatasetLayout:
    """The on-disk layout of one dataset (see the module docstring).

    Attributes:
        name (str): config basename and command-line name, e.g. ``oxford_pets``.
        reader (str): registered reader class (= ``DATASET.NAME``).
        title (str): human-readable name.
        folder (str): the dataset folder under ``DATASET.ROOT``.
        image_folder (str): the image folder, relative to ``folder``.
        needs (tuple[Need]): what a prepared folder contains.
        split_file (str): name of the published split file, or ``""``.
        split_relative_to_dataset_dir (bool): the split file's image paths
            are relative to the dataset folder (Stanford Cars) instead of
            the image folder.
        downloads (tuple[DriveFile]): files ``download-splits`` fetches.
        same_class_folders (tuple[str]): folders that must hold the same
            class sub-folders (ImageNet's train and val).
        docs_anchor (str): section anchor in ``docs/DATASETS.md``.
    """

    name: str
    reader: str
    title: str
    folder: str
    image_folder: str
    needs: tuple
    docs_anchor: str
    split_file: str = ""
    split_relative_to_dataset_dir: bool = False
    downloads: tuple = field(default_factory=tuple)
    same_class_folders: tuple = field(default_factory=tuple)

    @property
    def docs(self):
        return f"{DOCS_FILE}#{self.docs_anchor}"

    @property
    def split_prefix(self):
        """Folder (relative to the dataset folder) the split file's paths start from."""
        return "" if self.split_relative_to_dataset_dir else self.image_folder

    def download_command(self, root="$DATA"):
        return f"python -m enprompt.data download-splits {self.name} --root {root}"

    def missing_folder_fix(self, root):
        """What to do when the dataset folder does not exist."""
        fix = (
            f"prepare {self.title} in this folder as the docs describe; DATASET.ROOT "
            f"(--root) must be the folder that contains {self.folder}/"
        )
        if not root:
            fix = f"DATASET.ROOT is empty: pass the data root with --root. Then {fix}"
        return fix


# --------------------------------------------------------------------------
# Google Drive files listed in CoOp's DATASETS.md
# --------------------------------------------------------------------------
_IMAGENET_CLASSNAMES = "1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"


def _split(reader, file_id):
    return DriveFile(file_id, f"split_zhou_{reader}.json")


def _classnames_need(name):
    return Need(
        "classnames.txt",
        "file",
        "get ImageNet's classnames.txt (1000 lines '<wnid> <class name>') with "
        f"`python -m enprompt.data download-splits {name} --root $DATA` "
        "(it copies imagenet/classnames.txt when that exists)",
    )


_LAYOUT_LIST = [
    DatasetLayout(
        name="imagenet",
        reader="ImageNet",
        title="ImageNet",
        folder="imagenet",
        image_folder="images",
        needs=(
            Need("classnames.txt", "file",
                 "get it with `python -m enprompt.data download-splits imagenet --root $DATA`"),
            Need("images/train", "class_dirs",
                 "extract ILSVRC2012_img_train.tar into images/train/ and each of its "
                 "per-class tar files into images/train/<wnid>/"),
            Need("images/val", "class_dirs",
                 "extract ILSVRC2012_img_val.tar into images/val/ and sort the 50,000 "
                 "images into one folder per WordNet id (e.g. with valprep.sh)"),
        ),
        downloads=(DriveFile(_IMAGENET_CLASSNAMES, "classnames.txt"),),
        same_class_folders=("images/train", "images/val"),
        docs_anchor="imagenet",
    ),
    DatasetLayout(
        name="caltech101",
        reader="Caltech101",
        title="Caltech101",
        folder="caltech-101",
        image_folder="101_ObjectCategories",
        needs=(
            Need("101_ObjectCategories", "class_dirs",
                 "extract 101_ObjectCategories.tar.gz into the caltech-101 folder"),
        ),
        split_file="split_zhou_Caltech101.json",
        downloads=(_split("Caltech101", "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN"),),
        docs_anchor="caltech101",
    ),
    DatasetLayout(
        name="oxford_pets",
        reader="OxfordPets",
        title="Oxford Pets",
        folder="oxford_pets",
        image_folder="images",
        needs=(
            Need("images", "dir", "extract images.tar.gz into the oxford_pets folder"),
            Need("annotations/trainval.txt", "file",
                 "extract annotations.tar.gz into the oxford_pets folder", True),
            Need("annotations/test.txt", "file",
                 "extract annotations.tar.gz into the oxford_pets folder", True),
        ),
        split_file="split_zhou_OxfordPets.json",
        downloads=(_split("OxfordPets", "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"),),
        docs_anchor="oxford-pets",
    ),
    DatasetLayout(
        name="stanford_cars",
        reader="StanfordCars",
        title="Stanford Cars",
        folder="stanford_cars",
        image_folder="",
        needs=(
            Need("cars_train", "dir", "extract cars_train.tgz into the stanford_cars folder"),
            Need("cars_test", "dir", "extract cars_test.tgz into the stanford_cars folder"),
            Need("devkit/cars_train_annos.mat", "file",
                 "extract car_devkit.tgz into the stanford_cars folder", True),
            Need("devkit/cars_meta.mat", "file",
                 "extract car_devkit.tgz into the stanford_cars folder", True),
            Need("cars_test_annos_withlabels.mat", "file",
                 "download cars_test_annos_withlabels.mat into the stanford_cars folder "
                 "(the official link is dead; see the docs for a mirror)", True),
        ),
        split_file="split_zhou_StanfordCars.json",
        split_relative_to_dataset_dir=True,
        downloads=(_split("StanfordCars", "1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT"),),
        docs_anchor="stanford-cars",
    ),
    DatasetLayout(
        name="oxford_flowers",
        reader="OxfordFlowers",
        title="Flowers102",
        folder="oxford_flowers",
        image_folder="jpg",
        needs=(
            Need("jpg", "dir", "extract 102flowers.tgz into the oxford_flowers folder"),
            Need("imagelabels.mat", "file",
                 "download imagelabels.mat into the oxford_flowers folder", True),
            Need("cat_to_name.json", "file",
                 "get it with `python -m enprompt.data download-splits oxford_flowers "
                 "--root $DATA`", True),
        ),
        split_file="split_zhou_OxfordFlowers.json",
        downloads=(
            DriveFile("1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0", "cat_to_name.json"),
            _split("OxfordFlowers", "1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT"),
        ),
        docs_anchor="flowers102",
    ),
    DatasetLayout(
        name="food101",
        reader="Food101",
        title="Food101",
        folder="food-101",
        image_folder="images",
        needs=(
            Need("images", "class_dirs",
                 "extract food-101.tar.gz into the data root (it creates food-101/images/)"),
        ),
        split_file="split_zhou_Food101.json",
        downloads=(_split("Food101", "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"),),
        docs_anchor="food101",
    ),
    DatasetLayout(
        name="fgvc_aircraft",
        reader="FGVCAircraft",
        title="FGVC Aircraft",
        folder="fgvc_aircraft",
        image_folder="images",
        needs=tuple(
            [Need("images", "dir",
                  "extract fgvc-aircraft-2013b.tar.gz and rename its data/ folder to fgvc_aircraft")]
            + [
                Need(f, "file",
                     "extract fgvc-aircraft-2013b.tar.gz and rename its data/ folder to fgvc_aircraft")
                for f in ("variants.txt", "images_variant_train.txt",
                          "images_variant_val.txt", "images_variant_test.txt")
            ]
        ),
        docs_anchor="fgvc-aircraft",
    ),
    DatasetLayout(
        name="sun397",
        reader="SUN397",
        title="SUN397",
        folder="sun397",
        image_folder="SUN397",
        needs=(
            Need("SUN397", "dir", "extract SUN397.tar.gz into the sun397 folder"),
            Need("ClassName.txt", "file",
                 "extract Partitions.zip so that ClassName.txt sits in the sun397 folder", True),
            Need("Training_01.txt", "file",
                 "extract Partitions.zip so that Training_01.txt sits in the sun397 folder", True),
            Need("Testing_01.txt", "file",
                 "extract Partitions.zip so that Testing_01.txt sits in the sun397 folder", True),
        ),
        split_file="split_zhou_SUN397.json",
        downloads=(_split("SUN397", "1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq"),),
        docs_anchor="sun397",
    ),
    DatasetLayout(
        name="dtd",
        reader="DescribableTextures",
        title="DTD",
        folder="dtd",
        image_folder="images",
        needs=(
            Need("images", "class_dirs",
                 "extract dtd-r1.0.1.tar.gz into the data root (it creates dtd/images/)"),
        ),
        split_file="split_zhou_DescribableTextures.json",
        downloads=(_split("DescribableTextures", "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"),),
        docs_anchor="dtd",
    ),
    DatasetLayout(
        name="eurosat",
        reader="EuroSAT",
        title="EuroSAT",
        folder="eurosat",
        image_folder="2750",
        needs=(
            Need("2750", "class_dirs", "extract EuroSAT.zip into the eurosat folder"),
        ),
        split_file="split_zhou_EuroSAT.json",
        downloads=(_split("EuroSAT", "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"),),
        docs_anchor="eurosat",
    ),
    DatasetLayout(
        name="ucf101",
        reader="UCF101",
        title="UCF101",
        folder="ucf101",
        image_folder="UCF-101-midframes",
        needs=(
            Need("UCF-101-midframes", "class_dirs",
                 "get the middle frames with `python -m enprompt.data download-splits "
                 "ucf101 --root $DATA`"),
            Need("ucfTrainTestlist/classInd.txt", "file",
                 "extract the official UCF101TrainTestSplits-RecognitionTask.zip into "
                 "the ucf101 folder", True),
            Need("ucfTrainTestlist/trainlist01.txt", "file",
                 "extract the official UCF101TrainTestSplits-RecognitionTask.zip into "
                 "the ucf101 folder", True),
            Need("ucfTrainTestlist/testlist01.txt", "file",
                 "extract the official UCF101TrainTestSplits-RecognitionTask.zip into "
                 "the ucf101 folder", True),
        ),
        split_file="split_zhou_UCF101.json",
        downloads=(
            DriveFile("10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O", "UCF-101-midframes.zip",
                      extracts_to="UCF-101-midframes"),
            _split("UCF101", "1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y"),
        ),
        docs_anchor="ucf101",
    ),
    DatasetLayout(
        name="imagenetv2",
        reader="ImageNetV2",
        title="ImageNetV2",
        folder="imagenetv2",
        image_folder="imagenetv2-matched-frequency-format-val",
        needs=(
            _classnames_need("imagenetv2"),
            Need("imagenetv2-matched-frequency-format-val", "class_dirs",
                 "extract imagenetv2-matched-frequency.tar.gz into the imagenetv2 folder"),
        ),
        downloads=(DriveFile(_IMAGENET_CLASSNAMES, "classnames.txt"),),
        docs_anchor="imagenetv2",
    ),
    DatasetLayout(
        name="imagenet_sketch",
        reader="ImageNetSketch",
        title="ImageNet-Sketch",
        folder="imagenet-sketch",
        image_folder="images",
        needs=(
            _classnames_need("imagenet_sketch"),
            Need("images", "class_dirs",
                 "extract the ImageNet-Sketch archive so that its 1000 class folders are in "
                 "imagenet-sketch/images/"),
        ),
        downloads=(DriveFile(_IMAGENET_CLASSNAMES, "classnames.txt"),),
        docs_anchor="imagenet-sketch",
    ),
    DatasetLayout(
        name="imagenet_a",
        reader="ImageNetA",
        title="ImageNet-A",
        folder="imagenet-adversarial",
        image_folder="imagenet-a",
        needs=(
            _classnames_need("imagenet_a"),
            Need("imagenet-a", "class_dirs",
                 "extract imagenet-a.tar into the imagenet-adversarial folder"),
        ),
        downloads=(DriveFile(_IMAGENET_CLASSNAMES, "classnames.txt"),),
        docs_anchor="imagenet-a",
    ),
    DatasetLayout(
        name="imagenet_r",
        reader="ImageNetR",
        title="ImageNet-R",
        folder="imagenet-rendition",
        image_folder="imagenet-r",
        needs=(
            _classnames_need("imagenet_r"),
            Need("imagenet-r", "class_dirs",
                 "extract imagenet-r.tar into the imagenet-rendition folder"),
        ),
        downloads=(DriveFile(_IMAGENET_CLASSNAMES, "classnames.txt"),),
        docs_anchor="imagenet-r",
    ),
]

LAYOUTS = {layout.name: layout for layout in _LAYOUT_LIST}

# The test-only ImageNet variants: they use ImageNet's classnames.txt and are
# the domain-generalization targets (enprompt.protocols).
IMAGENET_VARIANTS = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")


def layout_of_reader(reader):
    """The layout whose registered reader name is ``reader`` (KeyError otherwise)."""
    for layout in _LAYOUT_LIST:
        if layout.reader == reader:
            return layout
    raise KeyError(f"no dataset layout for reader {reader!r}")
