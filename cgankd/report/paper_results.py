"""The paper's published results, as plain data, for placing beside measured numbers.

Every value here is the paper's, never one measured by this project. Sources: the paper, Table 3
(top-1 test accuracy, NOKD and cGAN-KD alone), Tables 4–6 (KD methods and cGAN-KD + KD on
CIFAR-100 and ImageNet-100; a selection), Table 7 (test MAE of regression students), and its
ablation study, whose values are read off plots (approximate, marked "≈" wherever shown).

Keys: preset name (cifar100, imagenet100, steeringangle, utkface), then teacher / student
architecture (the registry's names), then the paper's column name.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER_DATASETS = {"cifar100": "CIFAR-100", "imagenet100": "ImageNet-100", "steeringangle": "SteeringAngle",
                  "utkface": "UTKFace"}

# The ablation's bars, in the paper's order; each adds one processing step to the fakes.
ABLATION_STEPS = ("unprocessed fakes", "+ cDR-RS", "+ cDR-RS + filtering", "+ cDR-RS + filtering + label adjustment")

# The paper, Table 3: top-1 test accuracy (%), NOKD and cGAN-KD.
TABLE3 = {
    "cifar100": {
        "MobileNetV2": {"NOKD": 64.78, "cGAN-KD": 68.42}, "resnet20": {"NOKD": 68.83, "cGAN-KD": 70.61},
        "vgg8": {"NOKD": 70.11, "cGAN-KD": 72.35}, "wrn_40_1": {"NOKD": 71.35, "cGAN-KD": 73.45},
        "ShuffleV1": {"NOKD": 71.42, "cGAN-KD": 74.89}, "resnet8x4": {"NOKD": 72.77, "cGAN-KD": 72.83},
        "ShuffleV2": {"NOKD": 72.80, "cGAN-KD": 75.45}, "wrn_16_2": {"NOKD": 73.02, "cGAN-KD": 73.98},
    },
    "imagenet100": {
        "resnet20": {"NOKD": 65.25, "cGAN-KD": 67.15}, "wrn_40_1": {"NOKD": 69.98, "cGAN-KD": 72.17},
        "wrn_16_2": {"NOKD": 72.09, "cGAN-KD": 73.77}, "resnet8x4": {"NOKD": 73.19, "cGAN-KD": 73.49},
        "resnet56": {"NOKD": 73.20, "cGAN-KD": 74.72}, "MobileNetV2": {"NOKD": 74.55, "cGAN-KD": 75.16},
        "ShuffleV1": {"NOKD": 75.02, "cGAN-KD": 76.89}, "vgg8": {"NOKD": 77.36, "cGAN-KD": 78.21},
    },
}

# The paper, Tables 4–6 (a selection): teacher -> student -> column -> top-1 test accuracy (%).
KD_TABLES = {
    "cifar100": {
        "resnet110": {"resnet20": {"NOKD": 68.83, "BLKD": 70.39, "cGAN-KD + BLKD": 71.29, "cGAN-KD + SSKD": 71.63,
                                   "cGAN-KD + CRD": 72.25}},
        "wrn_40_2": {"wrn_40_1": {"NOKD": 71.35, "BLKD": 73.71, "cGAN-KD + BLKD": 75.35, "cGAN-KD + SSKD": 75.65,
                                  "cGAN-KD + CRD": 75.70},
                     "MobileNetV2": {"NOKD": 64.78, "BLKD": 68.25, "cGAN-KD + BLKD": 70.51,
                                     "cGAN-KD + SSKD": 72.23}},
        "resnet32x4": {"resnet8x4": {"NOKD": 72.77, "BLKD": 73.25, "cGAN-KD + BLKD": 73.80, "cGAN-KD + SSKD": 76.38},
                       "ShuffleV2": {"NOKD": 72.80, "BLKD": 74.56, "cGAN-KD + BLKD": 77.05,
                                     "cGAN-KD + SSKD": 78.92}},
    },
    "imagenet100": {
        "resnet110": {"resnet20": {"NOKD": 65.25, "BLKD": 65.35, "cGAN-KD + BLKD": 66.87, "cGAN-KD + SSKD": 68.58}},
        "vgg19": {"vgg8": {"NOKD": 77.36, "BLKD": 80.15, "cGAN-KD + BLKD": 80.29, "cGAN-KD + SSKD": 82.46},
                  "ShuffleV1": {"NOKD": 75.02, "BLKD": 77.07, "cGAN-KD + BLKD": 78.41, "cGAN-KD + SSKD": 80.30}},
    },
}

# The teachers' top-1 test accuracy (%) in the paper's KD tables (Tables 4–6).
TEACHERS = {
    "cifar100": {"resnet110": 73.27, "resnet32x4": 79.11, "vgg13": 74.85, "vgg19": 73.88, "wrn_40_2": 75.82,
                 "ResNet50": 79.51, "densenet121": 79.98},
    "imagenet100": {"resnet110": 75.31, "wrn_40_2": 77.67, "ResNet34": 81.54, "vgg19": 83.41},
}

# The paper, Table 7: test MAE (SteeringAngle in degrees, UTKFace in years).
TABLE7 = {
    "steeringangle": {
        "resnet20": {"NOKD": 5.51, "cGAN-KD": 1.60}, "MobileNetV2": {"NOKD": 4.86, "cGAN-KD": 2.32},
        "wrn_16_1": {"NOKD": 4.83, "cGAN-KD": 1.82}, "resnet8x4": {"NOKD": 3.97, "cGAN-KD": 2.14},
        "wrn_40_1": {"NOKD": 3.87, "cGAN-KD": 1.48}, "ShuffleV1": {"NOKD": 3.67, "cGAN-KD": 2.20},
        "resnet56": {"NOKD": 2.68, "cGAN-KD": 1.55},
    },
    "utkface": {
        "wrn_16_1": {"NOKD": 7.25, "cGAN-KD": 5.01}, "MobileNetV2": {"NOKD": 7.16, "cGAN-KD": 4.84},
        "resnet56": {"NOKD": 7.06, "cGAN-KD": 4.90}, "ShuffleV1": {"NOKD": 7.03, "cGAN-KD": 4.95},
        "resnet20": {"NOKD": 6.87, "cGAN-KD": 4.92}, "wrn_40_1": {"NOKD": 6.70, "cGAN-KD": 4.92},
    },
}

# The paper's ablation study, read off its plots (approximate): test error (100 − top-1 accuracy,
# %) for CIFAR-100, test MAE (degrees) for SteeringAngle, per student and bar.
ABLATION = {
    "cifar100": {
        "MobileNetV2": {"NOKD": 35.2, "unprocessed fakes": 34.7, "+ cDR-RS": 32.3, "+ cDR-RS + filtering": 31.6},
        "vgg8": {"NOKD": 29.9, "unprocessed fakes": 31.0, "+ cDR-RS": 28.5, "+ cDR-RS + filtering": 27.7},
        "ShuffleV1": {"NOKD": 28.6, "unprocessed fakes": 28.4, "+ cDR-RS": 26.5, "+ cDR-RS + filtering": 25.1},
        "ShuffleV2": {"NOKD": 27.2, "unprocessed fakes": 27.0, "+ cDR-RS": 25.2, "+ cDR-RS + filtering": 24.6},
    },
    "steeringangle": {
        "resnet20": {"NOKD": 5.51, "unprocessed fakes": 2.2, "+ cDR-RS": 2.1, "+ cDR-RS + filtering": 1.9,
                     "+ cDR-RS + filtering + label adjustment": 1.60},
        "wrn_16_1": {"NOKD": 4.83, "unprocessed fakes": 2.5, "+ cDR-RS": 2.3, "+ cDR-RS + filtering": 2.2,
                     "+ cDR-RS + filtering + label adjustment": 1.82},
        "resnet8x4": {"NOKD": 3.97, "unprocessed fakes": 2.85, "+ cDR-RS": 2.75, "+ cDR-RS + filtering": 2.5,
                      "+ cDR-RS + filtering + label adjustment": 2.14},
        "resnet56": {"NOKD": 2.68, "unprocessed fakes": 2.15, "+ cDR-RS": 1.9, "+ cDR-RS + filtering": 1.8,
                     "+ cDR-RS + filtering + label adjustment": 1.55},
    },
}


@dataclass(frozen=True)
class PaperValue:
    """One published number and where it comes from."""

    value: float
    source: str
    approximate: bool = False

    def text(self) -> str:
        """E.g. 'paper 72.25', 'paper 1.60' or, read off a plot, 'paper ≈31.6'."""
        return f"paper {self.number()}"

    def number(self) -> str:
        """The value as published: two decimals, or as read off a plot with '≈'."""
        return f"≈{self.value:g}" if self.approximate else f"{self.value:.2f}"


def _get(table: dict, *keys: str | None) -> float | None:
    for key in keys:
        if not isinstance(table, dict) or key not in table:
            return None
        table = table[key]
    return table if isinstance(table, float) else None


def table3(preset: str | None, student: str, column: str) -> PaperValue | None:
    """The paper's Table 3 value of `column` (NOKD, cGAN-KD) for this student."""
    value = _get(TABLE3, preset, student, column)
    return PaperValue(value, "Table 3") if value is not None else None


def kd_table(preset: str | None, teacher: str | None, student: str, column: str) -> PaperValue | None:
    """The paper's Tables 4–6 value for a teacher -> student pair; NOKD and cGAN-KD alone fall back
    to Table 3 (they do not depend on the teacher)."""
    value = _get(KD_TABLES, preset, teacher, student, column)
    if value is not None:
        return PaperValue(value, "Tables 4–6")
    return table3(preset, student, column) if column in ("NOKD", "cGAN-KD") else None


def table7(preset: str | None, student: str, column: str) -> PaperValue | None:
    """The paper's Table 7 MAE of `column` (NOKD, cGAN-KD) for this regression student."""
    value = _get(TABLE7, preset, student, column)
    return PaperValue(value, "Table 7") if value is not None else None


def teacher(preset: str | None, arch: str | None) -> PaperValue | None:
    """The paper's test accuracy of a teacher architecture."""
    value = _get(TEACHERS, preset, arch)
    return PaperValue(value, "Tables 4–6") if value is not None else None


def ablation(preset: str | None, student: str, bar: str) -> PaperValue | None:
    """The paper's ablation error (≈, read off its plot) of one bar (NOKD or an ABLATION_STEPS name)."""
    value = _get(ABLATION, preset, student, bar)
    return PaperValue(value, "ablation study", approximate=True) if value is not None else None
