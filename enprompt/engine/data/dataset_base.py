"""``DatasetBase`` and the dataset registry (``dassl.data.datasets``)."""
import random
from collections import defaultdict

from ..registry import Registry, build_registered

__all__ = ["DatasetBase", "DATASET_REGISTRY", "build_dataset"]

DATASET_REGISTRY = Registry("DATASET")


def build_dataset(cfg):
    """Instantiate the reader registered under ``cfg.DATASET.NAME``."""
    return build_registered(DATASET_REGISTRY, cfg.DATASET.NAME, cfg, "dataset")


class DatasetBase:
    """Holds the ``train_x``, ``train_u``, ``val`` and ``test`` lists of ``Datum``.

    ``num_classes`` is ``max(label) + 1`` over ``train_x`` and ``classnames``
    lists the names of ``train_x``'s labels in label order, as in Dassl.
    """

    dataset_dir = ""  # folder of the dataset under DATASET.ROOT
    domains = []  # names of the domains (domain generalisation datasets)
    # Another way past an unreadable image than fixing the file, e.g. an option
    # of the reader that skips such images; appended to read_image's error.
    image_error_hint = ""

    def __init__(self, train_x=None, train_u=None, val=None, test=None):
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    @property
    def train_x(self):
        return self._train_x

    @property
    def train_u(self):
        return self._train_u

    @property
    def val(self):
        return self._val

    @property
    def test(self):
        return self._test

    @property
    def lab2cname(self):
        return self._lab2cname

    @property
    def classnames(self):
        return self._classnames

    @property
    def num_classes(self):
        return self._num_classes

    @staticmethod
    def get_num_classes(data_source):
        """Number of classes: the largest label plus one."""
        if not data_source:
            raise ValueError(
                "The training list is empty, so the number of classes is unknown. "
                "Check DATASET.ROOT, DATASET.NUM_SHOTS and the dataset reader's options "
                "that select images or classes."
            )
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source):
        """Return ``({label: classname}, [classname sorted by label])``."""
        mapping = {item.label: item.classname for item in data_source}
        labels = sorted(mapping)
        return mapping, [mapping[label] for label in labels]

    def check_input_domains(self, source_domains, target_domains):
        if not source_domains:
            raise ValueError("source_domains (list) is empty")
        if not target_domains:
            raise ValueError("target_domains (list) is empty")
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains):
        for domain in input_domains:
            if domain not in self.domains:
                raise ValueError(
                    f"Input domain must belong to {self.domains}, but got [{domain}]"
                )

    def generate_fewshot_dataset(self, *data_sources, num_shots=-1, repeat=False):
        """Sample ``num_shots`` items per class from each list (Dassl's algorithm).

        Items are grouped by label in order of first appearance; a class with
        at least ``num_shots`` items gets ``random.sample(items, num_shots)``,
        a smaller class keeps all its items (or ``random.choices`` with
        ``repeat``). Python's global ``random`` is consumed exactly as in Dassl,
        so the same seed gives the same samples.

        Returns:
            one list if one source was given, else a list of lists. With
            ``num_shots < 1`` the sources are returned unchanged.
        """
        if num_shots < 1:
            return data_sources[0] if len(data_sources) == 1 else data_sources

        print(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            dataset = []
            for items in self.split_dataset_by_label(data_source).values():
                if len(items) >= num_shots:
                    dataset.extend(random.sample(items, num_shots))
                elif repeat:
                    dataset.extend(random.choices(items, k=num_shots))
                else:
                    dataset.extend(items)
            output.append(dataset)
        return output[0] if len(output) == 1 else output

    def split_dataset_by_label(self, data_source):
        """Group a list of ``Datum`` by label: ``{label: [Datum, ...]}`` (insertion order)."""
        output = defaultdict(list)
        for item in data_source:
            output[item.label].append(item)
        return output

    def split_dataset_by_domain(self, data_source):
        """Group a list of ``Datum`` by domain: ``{domain: [Datum, ...]}``."""
        output = defaultdict(list)
        for item in data_source:
            output[item.domain].append(item)
        return output
