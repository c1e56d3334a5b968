from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import SplitDataset, SplitRule, image_folder_layout, read_image_folder


@DATASET_REGISTRY.register()
class ImageFolder(SplitDataset):
    """A folder of your own images, named by ``DATASET.IMAGE_FOLDER.DIR``.

    ``<dir>/<class>/*`` is split per class once, by its own seed
    (``DATASET.IMAGE_FOLDER.SPLIT_SEED``, ``P_TRAIN``, ``P_VAL``), into
    ``<dir>/split_image_folder.json``; ``<dir>/{train,val,test}/<class>/*``
    is used as given. Class names: the folder names with ``_`` as spaces, or
    ``<dir>/classnames.txt``. Few-shot sampling, base/new classes and the
    data checks are those of every reader (see :mod:`enprompt.data.image_folder`).
    """

    def __init__(self, cfg):
        if "IMAGE_FOLDER" not in cfg.DATASET:
            raise KeyError(
                "DATASET.IMAGE_FOLDER is not in the config: call "
                "enprompt.config.add_enprompt_config(cfg) in your train.py's extend_cfg"
            )
        self.rule = SplitRule.from_cfg(cfg)
        self.layout = image_folder_layout(cfg.DATASET.IMAGE_FOLDER.DIR, self.rule)
        super().__init__(cfg)

    def read_lists(self):
        lists, self.split_path = read_image_folder(
            self.dataset_dir, self.rule, dataset=self.layout.reader, docs=self.layout.docs
        )
        return lists
