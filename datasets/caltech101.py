from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset


@DATASET_REGISTRY.register()
class Caltech101(SplitDataset):
    """Caltech-101 (Fei-Fei et al., 2004): 100 object classes.

    Without the published split file: a 50/20/30 split of
    ``101_ObjectCategories/<class>/``, leaving out the background class and
    the duplicate face class.
    """

    layout = LAYOUTS["caltech101"]
    ignored = ("BACKGROUND_Google", "Faces_easy")
    new_cnames = {
        "airplanes": "airplane",
        "Faces": "face",
        "Leopards": "leopard",
        "Motorbikes": "motorbike",
    }
