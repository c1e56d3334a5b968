from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset


@DATASET_REGISTRY.register()
class Food101(SplitDataset):
    """Food-101 (Bossard et al., ECCV 2014): 101 dishes.

    Without the published split file: a 50/20/30 split of ``images/<dish>/``
    (the official ``meta/`` train/test lists are not used, as in CoOp).
    """

    layout = LAYOUTS["food101"]
