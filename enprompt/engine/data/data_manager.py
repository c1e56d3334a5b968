"""Data loaders and the dataset summary (``dassl.data.data_manager``)."""
import torch
import torchvision.transforms as T
from tabulate import tabulate
from torch.utils.data import Dataset as TorchDataset

from enprompt import distributed

from ..tools import read_image
from .dataset_base import build_dataset
from .samplers import build_distributed_sampler, build_sampler
from .transforms import INTERPOLATION_MODES, build_transform

__all__ = ["DataManager", "DatasetWrapper", "build_data_loader"]


def build_data_loader(
    cfg,
    sampler_type="SequentialSampler",
    data_source=None,
    batch_size=64,
    n_domain=0,
    n_ins=2,
    tfm=None,
    is_train=True,
    dataset_wrapper=None,
):
    """A ``DataLoader`` over a list of ``Datum``.

    As in Dassl, the last incomplete batch is dropped only for training and only
    when the list holds at least one full batch (``drop_last = is_train and
    len(data_source) >= batch_size``), so a tiny few-shot set still trains.

    In a data-parallel run (:mod:`enprompt.distributed`) each process loads
    its shard: ``batch_size`` is per process, and training follows the same
    rule for the global batch (see ``build_distributed_sampler``).
    """
    if not data_source:
        raise ValueError(
            f"Cannot build a {'training' if is_train else 'test'} data loader from an "
            "empty list of images. Check DATASET.ROOT, DATASET.NUM_SHOTS and the "
            "dataset reader's options that select images or classes."
        )
    if distributed.is_distributed():
        sampler = build_distributed_sampler(
            sampler_type, data_source, batch_size, is_train, distributed.shared_seed(cfg.SEED),
            num_replicas=distributed.get_world_size(), rank=distributed.get_rank(),
        )
    else:
        sampler = build_sampler(
            sampler_type, cfg=cfg, data_source=data_source, batch_size=batch_size,
            n_domain=n_domain, n_ins=n_ins,
        )
    wrapper = (dataset_wrapper or DatasetWrapper)(cfg, data_source, transform=tfm, is_train=is_train)
    return torch.utils.data.DataLoader(
        wrapper,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=is_train and len(data_source) >= batch_size,
        pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
    )


class DataManager:
    """Build the dataset named in the config, its transforms and its loaders.

    Attributes: ``dataset``, ``train_loader_x``, ``train_loader_u`` (None here
    unless the reader defines ``train_u``), ``val_loader`` (None when the
    dataset has no val split), ``test_loader``, ``num_classes``,
    ``num_source_domains``, ``lab2cname``.
    """

    def __init__(self, cfg, custom_tfm_train=None, custom_tfm_test=None, dataset_wrapper=None):
        dataset = build_dataset(cfg)

        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            print("* Using custom transform for training")
            tfm_train = custom_tfm_train
        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            print("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        loader_x = cfg.DATALOADER.TRAIN_X
        self.train_loader_x = build_data_loader(
            cfg, sampler_type=loader_x.SAMPLER, data_source=dataset.train_x,
            batch_size=loader_x.BATCH_SIZE, n_domain=loader_x.N_DOMAIN, n_ins=loader_x.N_INS,
            tfm=tfm_train, is_train=True, dataset_wrapper=dataset_wrapper,
        )

        self.train_loader_u = None
        if dataset.train_u:
            loader_u = loader_x if cfg.DATALOADER.TRAIN_U.SAME_AS_X else cfg.DATALOADER.TRAIN_U
            self.train_loader_u = build_data_loader(
                cfg, sampler_type=loader_u.SAMPLER, data_source=dataset.train_u,
                batch_size=loader_u.BATCH_SIZE, n_domain=loader_u.N_DOMAIN, n_ins=loader_u.N_INS,
                tfm=tfm_train, is_train=True, dataset_wrapper=dataset_wrapper,
            )

        test_cfg = cfg.DATALOADER.TEST
        self.val_loader = None
        if dataset.val:
            self.val_loader = build_data_loader(
                cfg, sampler_type=test_cfg.SAMPLER, data_source=dataset.val,
                batch_size=test_cfg.BATCH_SIZE, tfm=tfm_test, is_train=False,
                dataset_wrapper=dataset_wrapper,
            )
        self.test_loader = build_data_loader(
            cfg, sampler_type=test_cfg.SAMPLER, data_source=dataset.test,
            batch_size=test_cfg.BATCH_SIZE, tfm=tfm_test, is_train=False,
            dataset_wrapper=dataset_wrapper,
        )

        # The reader's way past an unreadable image, named in read_image's error.
        for loader in (self.train_loader_x, self.train_loader_u, self.val_loader, self.test_loader):
            if loader is not None:
                loader.dataset.image_error_hint = dataset.image_error_hint

        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname
        self.dataset = dataset

        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @property
    def num_classes(self):
        return self._num_classes

    @property
    def num_source_domains(self):
        return self._num_source_domains

    @property
    def lab2cname(self):
        return self._lab2cname

    def show_dataset_summary(self, cfg):
        """Print Dassl's table: Dataset, # classes, # train_x, # val, # test."""
        table = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            table.append(["Source", cfg.DATASET.SOURCE_DOMAINS])
        if cfg.DATASET.TARGET_DOMAINS:
            table.append(["Target", cfg.DATASET.TARGET_DOMAINS])
        table.append(["# classes", f"{self.num_classes:,}"])
        table.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            table.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            table.append(["# val", f"{len(self.dataset.val):,}"])
        table.append(["# test", f"{len(self.dataset.test):,}"])
        print(tabulate(table))


class DatasetWrapper(TorchDataset):
    """Torch dataset over a list of ``Datum``.

    Each item is a dict with ``img`` (transformed; ``img2``... for a list of
    transforms; a list of K views when ``DATALOADER.K_TRANSFORMS > 1`` in
    training), ``label``, ``domain``, ``impath``, ``index`` and, with
    ``DATALOADER.RETURN_IMG0``, the un-augmented ``img0``.
    """

    image_error_hint = ""  # set by DataManager from the dataset (DatasetBase.image_error_hint)

    def __init__(self, cfg, data_source, transform=None, is_train=False):
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform
        self.is_train = is_train
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ValueError(
                f"DATALOADER.K_TRANSFORMS={self.k_tfm} needs a transform, but "
                "INPUT.NO_TRANSFORM is set"
            )
        to_tensor = [
            T.Resize(cfg.INPUT.SIZE, interpolation=INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]),
            T.ToTensor(),
        ]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            to_tensor.append(T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        self.to_tensor = T.Compose(to_tensor)

    def __len__(self):
        return len(self.data_source)

    def __getitem__(self, idx):
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        img0 = read_image(item.impath, hint=self.image_error_hint)
        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._transform_image(tfm, img0)
        else:
            output["img"] = self._transform_image(self.transform, img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _transform_image(self, tfm, img0):
        views = [tfm(img0) for _ in range(self.k_tfm)]
        return views[0] if len(views) == 1 else views
