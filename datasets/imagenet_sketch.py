from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, TestOnlyDataset


@DATASET_REGISTRY.register()
class ImageNetSketch(TestOnlyDataset):
    """ImageNet-Sketch (Wang et al., NeurIPS 2019): 50,889 sketches of the
    1000 ImageNet classes, in ``images/<wnid>/``. Test only."""

    layout = LAYOUTS["imagenet_sketch"]
