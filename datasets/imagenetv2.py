from collections import OrderedDict

from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, TestOnlyDataset, class_folder_records


@DATASET_REGISTRY.register()
class ImageNetV2(TestOnlyDataset):
    """ImageNetV2 matched-frequency (Recht et al., ICML 2019): 10,000 new test
    images of the 1000 ImageNet classes. Test only.

    The class folders are named by label (``0`` .. ``999``); label ``i`` has
    the class name on line ``i`` of ``classnames.txt``.
    """

    layout = LAYOUTS["imagenetv2"]

    def read_records(self, classnames):
        by_label = OrderedDict((str(i), name) for i, name in enumerate(classnames.values()))
        return class_folder_records(
            self.image_dir, list(by_label), by_label, self.classnames_file,
            dataset=self.layout.reader, docs=self.layout.docs,
        )
