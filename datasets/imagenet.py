import os.path as osp

from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import (
    LAYOUTS,
    SplitDataset,
    class_folder_records,
    list_class_folders,
    make_datum_lists,
    read_classnames,
    read_split_records,
    write_image_lists,
)


@DATASET_REGISTRY.register()
class ImageNet(SplitDataset):
    """ImageNet ILSVRC-2012 (Deng et al., CVPR 2009): 1000 classes.

    Train is ``images/train/<wnid>/``, test the official validation set
    ``images/val/<wnid>/`` (sorted into class folders), which also serves as
    the val set. Labels are the indices of the sorted class folders; class
    names come from ``classnames.txt``. The lists are cached in
    ``preprocessed.json`` (paths relative to the dataset folder; delete it
    after changing the image folders). CoOp's ``preprocessed.pkl`` is not
    read: the folders are listed instead, in sorted order.
    """

    layout = LAYOUTS["imagenet"]
    cache_file = "preprocessed.json"

    def read_lists(self):
        cache = self.path(self.cache_file)
        keys = ("train", "test")
        if osp.isfile(cache):
            print(f"Loading the image lists from {cache}")
            records = read_split_records(
                cache, self.dataset_dir, keys=keys,
                dataset=self.layout.reader, docs=self.layout.docs,
                fix_malformed="delete it; the image folders are then listed again",
            )
            source = cache
            fix = f"the images changed since {cache} was written: delete it to list them again"
        else:
            records = self.list_images()
            source, fix = self.image_dir, "check the image folders"
        train, test = make_datum_lists(
            [records[key] for key in keys], source, fix,
            dataset=self.layout.reader, docs=self.layout.docs,
        )
        if source != cache:
            write_image_lists({"train": train, "test": test}, cache, self.dataset_dir)
            print(f"Saved the image lists to {cache}")
        return train, None, test

    def list_images(self):
        """``{"train": records, "test": records}`` from the sorted class folders."""
        classnames_file = self.path("classnames.txt")
        classnames = read_classnames(
            classnames_file, dataset=self.layout.reader, docs=self.layout.docs
        )
        records = {}
        for key, folder in (("train", "train"), ("test", "val")):
            split_dir = osp.join(self.image_dir, folder)
            records[key] = class_folder_records(
                split_dir, list_class_folders(split_dir), classnames, classnames_file,
                dataset=self.layout.reader, docs=self.layout.docs,
            )
        return records
