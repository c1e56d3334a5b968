"""Installable package ``enprompt``.

Only the library ``enprompt`` is installed. The program folders of the
repository (``trainers/``, ``datasets/``, ``configs/``, ``scripts/``) are
used from the repository root, as in every CoOp-family code base, and are
never installed as top-level packages: a top-level ``datasets`` package in
site-packages would shadow Hugging Face's ``datasets``.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open(osp.join(osp.dirname(__file__), "enprompt", "version.py")) as f:
        exec(f.read(), namespace)
    return namespace["__version__"]


def read_readme():
    with open(osp.join(osp.dirname(__file__), "README.md"), encoding="utf-8") as f:
        return f.read()


setup(
    name="enprompt",
    version=read_version(),
    description=(
        "EnPrompt: prompt learning for CLIP with an External Layer "
        "(ACM MM 2024), as a Dassl-style trainer"
    ),
    long_description=read_readme(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["enprompt", "enprompt.*"]),
    include_package_data=True,
    install_requires=[
        "torch>=2.1,<3",
        "torchvision>=0.16",
        # OpenAI's CLIP packaged as a wheel; see README ("Why clip-anytorch").
        "clip-anytorch>=2.5",
        # clip imports pkg_resources, which setuptools 81+ no longer ships.
        "setuptools<81",
        "yacs>=0.1.8",
        "pot>=0.9",
        "gdown>=4.7",
        "numpy",
        "scipy",
        "scikit-learn",
        "tabulate",
        "tqdm",
        "tensorboard",
        "matplotlib",
        "Pillow",
        # the exported model file (python -m enprompt.export): tensors, no pickle
        "safetensors>=0.4",
        # python -m enprompt.sweep: Slurm job arrays, requeued on preemption
        "submitit>=1.5",
    ],
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3"]},
    entry_points={
        "console_scripts": [
            "enprompt-data=enprompt.data.__main__:main",
            "enprompt-results=enprompt.results:main",
            "enprompt-demo=enprompt.demo:main",
            "enprompt-predict=enprompt.predict:main",
            "enprompt-export=enprompt.export:main",
            "enprompt-sweep=enprompt.sweep.cli:main",
        ]
    },
)
