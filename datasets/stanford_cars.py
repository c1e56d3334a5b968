from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset, split_trainval


@DATASET_REGISTRY.register()
class StanfordCars(SplitDataset):
    """Stanford Cars (Krause et al., 2013): 196 car models.

    Without the published split file: ``cars_train`` (labels from
    ``devkit/cars_train_annos.mat``) split 80/20 into train and val,
    ``cars_test`` (labels from ``cars_test_annos_withlabels.mat``) as test.
    Class names come from ``devkit/cars_meta.mat`` with the year moved to the
    front ("AM General Hummer SUV 2000" -> "2000 AM General Hummer SUV").
    The split file's paths are relative to the dataset folder.
    """

    layout = LAYOUTS["stanford_cars"]

    def create_split(self):
        meta_file = self.path("devkit", "cars_meta.mat")
        trainval = self.read_annotations(
            "cars_train", self.path("devkit", "cars_train_annos.mat"), meta_file
        )
        test = self.read_annotations(
            "cars_test", self.path("cars_test_annos_withlabels.mat"), meta_file
        )
        train, val = split_trainval(trainval)
        return train, val, test

    @staticmethod
    def year_first(classname):
        """Move the trailing year of a class name to the front."""
        words = classname.split(" ")
        return " ".join([words[-1]] + words[:-1])

    def read_annotations(self, image_folder, anno_file, meta_file):
        from scipy.io import loadmat

        annotations = loadmat(anno_file)["annotations"][0]
        class_names = loadmat(meta_file)["class_names"][0]
        if "class" not in (annotations.dtype.names or ()):
            raise self.error(
                "the annotation file has no class labels (the test annotations of the "
                "official devkit, cars_test_annos.mat, are unlabelled)",
                path=anno_file,
                fix="use cars_test_annos_withlabels.mat (see the docs for a mirror)",
            )
        records = []
        for anno in annotations:
            label = int(anno["class"][0, 0]) - 1
            classname = self.year_first(str(class_names[label][0]))
            records.append((self.path(image_folder, str(anno["fname"][0])), label, classname))
        return self.datums(records, anno_file)
