from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset


@DATASET_REGISTRY.register()
class FGVCAircraft(SplitDataset):
    """FGVC-Aircraft (Maji et al., 2013): 100 aircraft variants.

    Uses the official ``images_variant_{train,val,test}.txt`` split (lines
    ``<image id> <variant>``, image ``images/<image id>.jpg``); labels are the
    line numbers of ``variants.txt``. Nothing is random and no split file is
    written.
    """

    layout = LAYOUTS["fgvc_aircraft"]

    def create_split(self):
        classnames = self.read_lines("variants.txt")
        cname2lab = {c: i for i, c in enumerate(classnames)}
        return tuple(
            self.read_variant_file(cname2lab, f"images_variant_{split}.txt")
            for split in ("train", "val", "test")
        )

    def read_variant_file(self, cname2lab, split_file):
        records = []
        for line in self.read_lines(split_file):
            image_id, _, variant = line.partition(" ")
            if variant not in cname2lab:
                raise self.error(
                    f"the variant {variant!r} of line {line!r} is not in variants.txt",
                    path=self.path(split_file),
                    fix="use the data/ folder of the official fgvc-aircraft-2013b archive",
                )
            records.append((self.path("images", image_id + ".jpg"), cname2lab[variant], variant))
        return self.datums(records, self.path(split_file))
