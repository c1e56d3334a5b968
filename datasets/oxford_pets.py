from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset, split_trainval


@DATASET_REGISTRY.register()
class OxfordPets(SplitDataset):
    """Oxford-IIIT Pet (Parkhi et al., CVPR 2012): 37 cat and dog breeds.

    Without the published split file: ``annotations/trainval.txt`` split
    80/20 into train and val, ``annotations/test.txt`` as test. The breed is
    the image name without its number, lower-cased
    (``Abyssinian_12`` -> ``abyssinian``).
    """

    layout = LAYOUTS["oxford_pets"]

    def create_split(self):
        trainval = self.read_annotations("trainval.txt")
        test = self.read_annotations("test.txt")
        train, val = split_trainval(trainval)
        return train, val, test

    def read_annotations(self, split_file):
        source = self.path("annotations", split_file)
        records = []
        for line in self.read_lines("annotations", split_file):
            fields = line.split(" ")
            if len(fields) != 4:
                raise self.error(
                    f"malformed line {line!r}: expected '<image name> <class id> <species> "
                    "<breed id>'",
                    path=source,
                    fix="replace the annotations folder with the one from the official "
                        "annotations.tar.gz",
                )
            imname, class_id = fields[0], int(fields[1])
            breed = "_".join(imname.split("_")[:-1]).lower()
            records.append((self.path("images", imname + ".jpg"), class_id - 1, breed))
        return self.datums(records, source)
