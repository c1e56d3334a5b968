import os.path as osp

from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset, split_trainval


@DATASET_REGISTRY.register()
class SUN397(SplitDataset):
    """SUN397 (Xiao et al., CVPR 2010): 397 scene categories.

    Without the published split file: partition 1 (``Training_01.txt``) split
    80/20 into train and val, ``Testing_01.txt`` as test; labels are the line
    numbers of ``ClassName.txt``. The class name is the class path without
    its first letter, reversed (``/b/bakery/shop`` -> "shop bakery").
    """

    layout = LAYOUTS["sun397"]

    def create_split(self):
        class_paths = [line[1:] for line in self.read_lines("ClassName.txt")]  # drop "/"
        cname2lab = {c: i for i, c in enumerate(class_paths)}
        trainval = self.read_partition(cname2lab, "Training_01.txt")
        test = self.read_partition(cname2lab, "Testing_01.txt")
        train, val = split_trainval(trainval)
        return train, val, test

    @staticmethod
    def classname_of(class_path):
        """``b/bakery/shop`` -> ``shop bakery``."""
        return " ".join(class_path.split("/")[1:][::-1])

    def read_partition(self, cname2lab, text_file):
        records = []
        for line in self.read_lines(text_file):
            imname = line[1:]  # drop "/"
            class_path = osp.dirname(imname)
            if class_path not in cname2lab:
                raise self.error(
                    f"the class of {line!r} is not in ClassName.txt",
                    path=self.path(text_file),
                    fix="use ClassName.txt and the partition files of the same Partitions.zip",
                )
            records.append(
                (osp.join(self.image_dir, imname), cname2lab[class_path],
                 self.classname_of(class_path))
            )
        return self.datums(records, self.path(text_file))
