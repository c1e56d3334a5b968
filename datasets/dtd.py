from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset


@DATASET_REGISTRY.register()
class DescribableTextures(SplitDataset):
    """Describable Textures Dataset (Cimpoi et al., CVPR 2014): 47 texture classes.

    Without the published split file: a 50/20/30 split of ``images/<texture>/``.
    """

    layout = LAYOUTS["dtd"]
