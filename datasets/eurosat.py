from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, SplitDataset


@DATASET_REGISTRY.register()
class EuroSAT(SplitDataset):
    """EuroSAT (Helber et al., 2019): 10 land-use classes of Sentinel-2 images.

    Without the published split file: a 50/20/30 split of ``2750/<Class>/``
    with the folder names spelled out (the published file already holds these
    names).
    """

    layout = LAYOUTS["eurosat"]
    new_cnames = {
        "AnnualCrop": "Annual Crop Land",
        "Forest": "Forest",
        "HerbaceousVegetation": "Herbaceous Vegetation Land",
        "Highway": "Highway or Road",
        "Industrial": "Industrial Buildings",
        "Pasture": "Pasture Land",
        "PermanentCrop": "Permanent Crop Land",
        "Residential": "Residential Buildings",
        "River": "River",
        "SeaLake": "Sea or Lake",
    }
