"""Datasets without downloads: glyph digits, synthetic sets, IDX and CSV readers, splitting."""
from .glyphs import glyph_digits, load_glyph_digits
from .idx import download_mnist, load_idx, load_mnist, write_idx
from .registry import (DATASETS, TABLES, calibration_split, load_dataset,
                       make_table)
from .synthetic import (blobs, checkerboard, make_classification, make_regression, spirals,
                        two_moons)
from .tabular import load_csv, missing_counts, train_test_split

__all__ = ["glyph_digits", "load_glyph_digits", "load_idx", "write_idx", "load_mnist",
           "download_mnist", "load_csv", "missing_counts", "train_test_split", "two_moons",
           "spirals", "blobs",
           "checkerboard", "make_classification", "make_regression", "load_dataset", "DATASETS",
           "TABLES", "make_table", "calibration_split"]
