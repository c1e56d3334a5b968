from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, TestOnlyDataset


@DATASET_REGISTRY.register()
class ImageNetA(TestOnlyDataset):
    """ImageNet-A (Hendrycks et al., CVPR 2021): 7,500 natural adversarial
    examples of 200 ImageNet classes, in ``imagenet-a/<wnid>/``. Test only.

    Labels are 0..199, the index among the sorted class folders (the
    archive's ``README.txt`` is not a class); they are not mapped to the 1000
    ImageNet labels, so models are scored 200-way, as in the CoOp family.
    """

    layout = LAYOUTS["imagenet_a"]
