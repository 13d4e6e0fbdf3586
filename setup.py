"""glacier-csc: CNN-Supervised Classification of glacial landscapes."""
import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', Path("csc/__init__.py").read_text()).group(1)

setup(
    name="glacier-csc",
    version=VERSION,
    description="CNN-Supervised Classification (CSC) of satellite scenes of glacial landscapes",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["csc", "csc.*", "Phase_1_CNN", "Phase_1_CNN.*",
                                    "CSC_Application", "CSC_Application.*", "baselines",
                                    "baselines.*", "batch", "batch.*"]),
    package_data={"batch": ["examples/*.csv"], "csc": ["schemas/*.csv"]},
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "pandas>=2.1",
        "rasterio>=1.3.9",
        "scikit-image>=0.22",
        "scikit-learn>=1.4",
        "lightgbm>=4.3",
        "matplotlib>=3.8",
        "click>=8.1",
        "tqdm>=4.66",
        "psutil>=5.9",
        "keras>=3.3",
        "tensorflow-cpu>=2.16; platform_machine=='x86_64' or platform_machine=='AMD64'",
        "tensorflow>=2.16; platform_machine!='x86_64' and platform_machine!='AMD64'",
        "dask[distributed]>=2024.1",
        "geopandas>=1.2",
        "pyogrio>=0.13",
        "shapely>=2.2",
    ],
    extras_require={
        "test": ["pytest>=7.4", "pytest-xdist>=3.5"],
        "dev": ["pytest>=7.4", "pytest-xdist>=3.5", "ruff"],
        "gpu": ["tensorflow[and-cuda]>=2.16"],
    },
    entry_points={"console_scripts": ["csc=csc.cli:main"]},
)
