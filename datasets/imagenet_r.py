from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, TestOnlyDataset


@DATASET_REGISTRY.register()
class ImageNetR(TestOnlyDataset):
    """ImageNet-R (Hendrycks et al., ICCV 2021): 30,000 renditions of 200
    ImageNet classes, in ``imagenet-r/<wnid>/``. Test only.

    Labels are 0..199, the index among the sorted class folders (the
    archive's ``README.txt`` is not a class); they are not mapped to the 1000
    ImageNet labels, so models are scored 200-way, as in the CoOp family.
    """

    layout = LAYOUTS["imagenet_r"]
