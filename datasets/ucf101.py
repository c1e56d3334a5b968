import re

from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset, split_trainval


@DATASET_REGISTRY.register()
class UCF101(SplitDataset):
    """UCF101 (Soomro et al., 2012): 101 human actions, one middle frame per video.

    Without the published split file: ``trainlist01.txt`` split 80/20 into
    train and val, ``testlist01.txt`` as test; labels from ``classInd.txt``.
    The CamelCase action is split into words joined by ``_``
    (``ApplyEyeMakeup`` -> ``Apply_Eye_Makeup``), which is both the frame
    folder and the class name; ``v_X.avi`` becomes ``v_X.jpg``.
    """

    layout = LAYOUTS["ucf101"]

    def create_split(self):
        cname2lab = {}
        for line in self.read_lines("ucfTrainTestlist", "classInd.txt"):
            class_id, action = line.split(" ")
            cname2lab[action] = int(class_id) - 1
        trainval = self.read_video_list(cname2lab, "trainlist01.txt")
        test = self.read_video_list(cname2lab, "testlist01.txt")
        train, val = split_trainval(trainval)
        return train, val, test

    @staticmethod
    def folder_name(action):
        """``ApplyEyeMakeup`` -> ``Apply_Eye_Makeup``."""
        return "_".join(re.findall("[A-Z][^A-Z]*", action))

    def read_video_list(self, cname2lab, text_file):
        source = self.path("ucfTrainTestlist", text_file)
        records = []
        for line in self.read_lines("ucfTrainTestlist", text_file):
            action, filename = line.split(" ")[0].split("/")
            if action not in cname2lab:
                raise self.error(
                    f"the action of {line!r} is not in classInd.txt",
                    path=source,
                    fix="use the files of one official UCF101TrainTestSplits archive",
                )
            folder = self.folder_name(action)
            impath = self.path(self.layout.image_folder, folder, filename.replace(".avi", ".jpg"))
            records.append((impath, cname2lab[action], folder))
        return self.datums(records, source)
