from enprompt.dassl import DATASET_REGISTRY, read_json
from enprompt.data import LAYOUTS, SplitDataset, split_per_class


@DATASET_REGISTRY.register()
class OxfordFlowers(SplitDataset):
    """Oxford Flowers 102 (Nilsback and Zisserman, 2008): 102 flower species.

    Without the published split file: image ``i`` (from 0) is
    ``jpg/image_{i+1:05d}.jpg`` with label ``imagelabels.mat[i] - 1``; each
    class, in order of first appearance, is split 50/20/30 (the official
    ``setid.mat`` split is not used, as in CoOp). Class names come from
    ``cat_to_name.json``.
    """

    layout = LAYOUTS["oxford_flowers"]

    def create_split(self):
        from scipy.io import loadmat

        label_file = self.path("imagelabels.mat")
        lab2cname = read_json(self.path("cat_to_name.json"))
        impaths = {}  # 1-based label -> image paths, in order of first appearance
        for i, label in enumerate(loadmat(label_file)["labels"][0]):
            impaths.setdefault(int(label), []).append(self.path("jpg", f"image_{i + 1:05d}.jpg"))
        missing = sorted(label for label in impaths if str(label) not in lab2cname)
        if missing:
            raise self.error(
                f"cat_to_name.json has no name for the label(s) {missing}",
                path=self.path("cat_to_name.json"),
                fix=f"get the published file with `{self.layout.download_command(self.root)}`",
            )
        groups = ((label - 1, lab2cname[str(label)], paths) for label, paths in impaths.items())
        return split_per_class(groups, p_trn=0.5, p_val=0.2, source=label_file)
