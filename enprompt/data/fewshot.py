"""Few-shot sampling with a portable JSON cache.

``sample_fewshot`` draws ``K`` training items per class (and ``min(K, 4)``
validation items per class) with the reader's ``generate_fewshot_dataset``,
i.e. Dassl's algorithm on Python's ``random`` after ``set_random_seed``, so a
seed gives the same samples as the CoOp-family readers. The samples are
cached in ``<dataset>/split_fewshot/shot_{K}-seed_{SEED}.json``: the split
file format (``{"train": [[path, label, classname], ...], "val": [...]}``)
with paths relative to the dataset folder, so a moved or copied data root
keeps working. Later runs read the cache and do not touch ``random``, as in
CoOp.

A CoOp cache ``shot_{K}-seed_{SEED}.pkl`` found next to it is used instead of
sampling (through the restricted unpickler of ``legacy_pickle``), with its
absolute paths moved onto the current dataset folder, and is converted to
the JSON cache.

A cache whose samples are not items of the current train (val) list, with
the same labels, was drawn from another split; it is refused with an error
that says to delete it.

An unseeded run (``SEED < 0``, e.g. ``--seed -1``) draws new samples: the
shared cache would give every unseeded run the same ones, which is what a
fixed seed is for. It neither reads nor writes the dataset's cache; its
samples are kept with the run, in ``<OUTPUT_DIR>/fewshot_samples.json``
(the same format), so that the run's manifest records their SHA256 and a
resumed run trains on the same samples. Without an output folder they are
not saved.
"""
import os.path as osp
from collections import Counter

from enprompt.fileio import mkdir_if_missing, write_json
from enprompt.notices import Notice, notice

from .datums import make_datum_lists
from .errors import DatasetNotReadyError
from .legacy_pickle import load_legacy_datums
from .splits import check_split_records, datum_records, read_split_records

__all__ = [
    "FEWSHOT_DIR",
    "RUN_SAMPLES_FILE",
    "FewShotWarning",
    "fewshot_cache_path",
    "fewshot_sample_path",
    "sample_fewshot",
    "reroot_path",
    "warn_small_classes",
]

FEWSHOT_DIR = "split_fewshot"
VAL_SHOTS_MAX = 4  # validation shots are min(K, 4), as in CoOp
RUN_SAMPLES_FILE = "fewshot_samples.json"  # an unseeded run's samples, in its output folder


class FewShotWarning(Notice):
    """Some classes have fewer images than ``DATASET.NUM_SHOTS``."""


def fewshot_cache_path(dataset_dir, num_shots, seed, ext="json"):
    """``<dataset_dir>/split_fewshot/shot_{K}-seed_{SEED}.<ext>`` (CoOp's naming)."""
    return osp.join(dataset_dir, FEWSHOT_DIR, f"shot_{num_shots}-seed_{seed}.{ext}")


def fewshot_sample_path(dataset_dir, num_shots, seed, run_dir=""):
    """The file that holds the few-shot samples a run uses (None: not saved).

    A seeded run: the dataset's shared cache :func:`fewshot_cache_path`. An
    unseeded one (``seed < 0``): ``<run_dir>/fewshot_samples.json``, its own,
    or None without a ``run_dir``.
    """
    if seed >= 0:
        return fewshot_cache_path(dataset_dir, num_shots, seed)
    return osp.join(run_dir, RUN_SAMPLES_FILE) if run_dir else None


def reroot_path(impath, dataset_dir):
    """Move an absolute image path from another machine onto ``dataset_dir``.

    A path already inside ``dataset_dir`` is kept. Otherwise the path is cut
    after a component equal to the dataset folder's name (e.g.
    ``/old/data/oxford_pets/images/x.jpg`` -> ``<dataset_dir>/images/x.jpg``),
    trying the last such component first and keeping the first candidate
    that exists. A path without that component is returned unchanged.
    """
    if impath.startswith(osp.join(dataset_dir, "")):
        return impath
    name = osp.basename(osp.normpath(dataset_dir))
    parts = impath.replace("\\", "/").split("/")
    candidates = [
        osp.join(dataset_dir, *parts[i + 1:])
        for i in range(len(parts) - 1, -1, -1)
        if parts[i] == name and i + 1 < len(parts)
    ]
    for candidate in candidates:
        if osp.isfile(candidate):
            return candidate
    return candidates[0] if candidates else impath


def warn_small_classes(items, num_shots, split_name="train"):
    """Warn (``FewShotWarning``) naming the classes with fewer than ``num_shots`` items.

    Dassl keeps all items of such a class, so the few-shot set is unbalanced.
    """
    counts = Counter(item.label for item in items)
    names = {item.label: item.classname for item in items}
    small = sorted(label for label, n in counts.items() if n < num_shots)
    if not small:
        return
    listed = ", ".join(f"{names[label]} ({counts[label]})" for label in small[:10])
    more = f", ... ({len(small) - 10} more)" if len(small) > 10 else ""
    notice(
        f"{len(small)} class(es) of the {split_name} split have fewer than {num_shots} "
        f"images, so all of their images are used: {listed}{more}",
        FewShotWarning,
        stacklevel=2,
    )


def _read_json_cache(path, dataset_dir, keys, dataset, docs):
    records = read_split_records(
        path, dataset_dir, keys=keys, dataset=dataset, docs=docs,
        fix_malformed="delete this cache file; the few-shot samples are then drawn again",
    )
    fix = (
        "the cached few-shot samples name images that are gone: delete this cache "
        "file to draw the samples again, or restore the images"
    )
    return make_datum_lists([records[key] for key in keys], path, fix, dataset=dataset, docs=docs)


def _read_legacy_cache(path, dataset_dir, keys, dataset, docs):
    legacy = load_legacy_datums(path, keys=keys)
    problem = check_split_records({key: [list(r) for r in legacy[key]] for key in keys})
    if problem:
        raise DatasetNotReadyError(
            f"the CoOp cache is malformed: {problem}", path=path,
            fix="delete this .pkl file; the few-shot samples are then drawn again",
            dataset=dataset, docs=docs,
        )
    fix = (
        f"the CoOp cache names images that are not under {dataset_dir}: restore them, "
        "or delete this .pkl file to draw the samples again"
    )
    lists = [
        [(reroot_path(p, dataset_dir), label, c) for p, label, c in legacy[key]] for key in keys
    ]
    return make_datum_lists(lists, path, fix, dataset=dataset, docs=docs)


def _raise_if_drawn_elsewhere(lists, full, keys, path, dataset, docs):
    """A cache must hold items of the current lists: one drawn from another split
    (the split file replaced, images moved between train and test) would train
    on test images or with other labels."""
    for key, cached, items in zip(keys, lists, full):
        known = {(item.impath, item.label) for item in items}
        foreign = [item for item in cached if (item.impath, item.label) not in known]
        if foreign:
            raise DatasetNotReadyError(
                f'{len(foreign)} of its {len(cached)} "{key}" samples are not {key} images of '
                f"the current split with the same label (e.g. {foreign[0].impath}, label "
                f"{foreign[0].label}): the samples were drawn from another split",
                path=path,
                fix="delete this cache file; the samples are then drawn again from the current split",
                dataset=dataset,
                docs=docs,
            )


def _draw(reader, num_shots, train, val):
    lists = [reader.generate_fewshot_dataset(train, num_shots=num_shots)]
    if val is not None:
        lists.append(reader.generate_fewshot_dataset(val, num_shots=min(num_shots, VAL_SHOTS_MAX)))
    return lists


def _sample_unseeded(reader, dataset_dir, num_shots, train, val, dataset, docs, run_dir):
    keys = ("train",) if val is None else ("train", "val")
    path = fewshot_sample_path(dataset_dir, num_shots, -1, run_dir)
    if path and osp.exists(path):  # this run, resumed
        print(f"Loading the few-shot samples of this unseeded run from {path}")
        lists = _read_json_cache(path, dataset_dir, keys, dataset, docs)
        full = [train] if val is None else [train, val]
        _raise_if_drawn_elsewhere(lists, full, keys, path, dataset, docs)
        return lists
    lists = _draw(reader, num_shots, train, val)
    kept = f"kept with this run in {path}" if path else "not saved (no output folder)"
    print(f"Unseeded run (SEED < 0): drew new few-shot samples, {kept}; the dataset's "
          f"{FEWSHOT_DIR}/ cache is neither read nor written (it is for seeded runs)")
    if path:
        write_json({key: datum_records(items, dataset_dir) for key, items in zip(keys, lists)}, path)
    return lists


def sample_fewshot(reader, dataset_dir, num_shots, seed, train, val=None, dataset=None, docs=None,
                   run_dir=""):
    """Few-shot train (and val) lists, from the cache or freshly sampled.

    Args:
        reader: the dataset reader; its ``generate_fewshot_dataset`` (Dassl's,
            or the built-in engine's) does the sampling.
        dataset_dir (str): the dataset folder (cache paths are relative to it).
        num_shots (int): K >= 1.
        seed (int): ``cfg.SEED``; names the cache file (the caller seeded
            Python's ``random``). Negative: an unseeded run, whose samples are
            new and kept in ``run_dir`` (see the module docstring).
        train (list[Datum]): the full training list.
        val (list[Datum] or None): the full validation list; ``None`` for
            ImageNet, whose cache holds only ``train``.
        dataset, docs: reader name and documentation link for errors.
        run_dir (str): the run's output folder (``cfg.OUTPUT_DIR``).

    Returns:
        (train, val): few-shot lists (``val`` is None when it was None).
    """
    if seed < 0:
        lists = _sample_unseeded(reader, dataset_dir, num_shots, train, val, dataset, docs, run_dir)
        warn_small_classes(lists[0], num_shots, "train")
        return lists[0], (lists[1] if val is not None else None)
    keys = ("train",) if val is None else ("train", "val")
    json_path = fewshot_cache_path(dataset_dir, num_shots, seed)
    pkl_path = fewshot_cache_path(dataset_dir, num_shots, seed, ext="pkl")
    mkdir_if_missing(osp.dirname(json_path))

    full = [train] if val is None else [train, val]
    if osp.exists(json_path):
        print(f"Loading preprocessed few-shot data from {json_path}")
        lists = _read_json_cache(json_path, dataset_dir, keys, dataset, docs)
        _raise_if_drawn_elsewhere(lists, full, keys, json_path, dataset, docs)
    else:
        if osp.exists(pkl_path):
            print(f"Loading preprocessed few-shot data from {pkl_path} (CoOp cache)")
            lists = _read_legacy_cache(pkl_path, dataset_dir, keys, dataset, docs)
            _raise_if_drawn_elsewhere(lists, full, keys, pkl_path, dataset, docs)
        else:
            lists = _draw(reader, num_shots, train, val)
        cache = {key: datum_records(items, dataset_dir) for key, items in zip(keys, lists)}
        print(f"Saving preprocessed few-shot data to {json_path}")
        write_json(cache, json_path)

    warn_small_classes(lists[0], num_shots, "train")
    return lists[0], (lists[1] if val is not None else None)

