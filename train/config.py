"""Training and tuning settings as plain dataclasses, with the two presets.

Every field can be overridden from the command line; the whole config is written
into the run's metrics.json so a run carries its own settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from digitedge.errors import DigitedgeError


@dataclass(frozen=True)
class ModelConfig:
    conv_blocks: int = 2  # each block: two 3x3 convs, then a 2x2 max-pool; widths double per block
    filters: int = 32  # width of the first block
    dense_units: int = 128
    dropout: float = 0.25
    batch_norm: bool = True
    learning_rate: float = 1e-3

    def check(self) -> None:
        if not 1 <= self.conv_blocks <= 3:
            raise DigitedgeError(f"conv_blocks={self.conv_blocks}: must be 1 to 3 (28x28 images halve per block)")
        if self.filters < 1 or self.dense_units < 1:
            raise DigitedgeError(f"filters={self.filters}, dense_units={self.dense_units}: must be positive")
        if not 0 <= self.dropout < 1:
            raise DigitedgeError(f"dropout={self.dropout}: must be in [0, 1)")
        if not 0 < self.learning_rate < 1:
            raise DigitedgeError(f"learning_rate={self.learning_rate}: must be in (0, 1)")


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool = True
    rotation: float = 10.0  # degrees, either way
    shift: float = 0.1  # fraction of the image, either way
    zoom: float = 0.1  # fraction, in or out
    # Robustness (issue 10; 0 = off): what a camera does to digits, see benchmarks/corruptions.py.
    noise: float = 0.0  # Gaussian noise, per image a sigma of 0 to this (of white)
    blur: float = 0.0  # Gaussian blur, sigma of up to this many pixels
    elastic: float = 0.0  # elastic distortion, a multiple of Simard et al.'s (alpha 34, sigma 4)
    thickness: int = 0  # strokes thinned or thickened by up to this many 3x3 steps
    contrast: float = 0.0  # contrast changed by up to this fraction
    lines: float = 0.0  # a straight light line across (ruled paper, a strike-through), up to this many px wide
    lighting: float = 0.0  # uneven light: a smooth background of up to this share of white added
    invert: float = 0.0  # share of images turned dark-on-light
    robust_share: float = 0.5  # each of noise, blur, elastic, thickness, contrast touches this share of images

    def check(self) -> None:
        if not (0 <= self.rotation <= 180 and 0 <= self.shift < 1 and 0 <= self.zoom < 1):
            raise DigitedgeError(
                f"augmentation rotation={self.rotation}, shift={self.shift}, zoom={self.zoom}: "
                "rotation must be 0-180 degrees, shift and zoom in [0, 1)"
            )
        if not (0 <= self.noise <= 1 and 0 <= self.blur <= 5 and 0 <= self.elastic <= 5 and 0 <= self.thickness <= 3
                and 0 <= self.contrast < 1 and 0 <= self.invert <= 1 and 0 < self.robust_share <= 1
                and 0 <= self.lines <= 5 and 0 <= self.lighting <= 2):
            raise DigitedgeError(
                f"augmentation noise={self.noise}, blur={self.blur}, elastic={self.elastic}, "
                f"thickness={self.thickness}, contrast={self.contrast}, invert={self.invert}, lines={self.lines}, "
                f"lighting={self.lighting}: noise and invert must be in [0, 1], blur, elastic and lines 0-5, "
                "thickness 0-3, contrast in [0, 1), lighting 0-2, robust_share in (0, 1]"
            )

    @property
    def robust(self) -> bool:
        return any((self.noise, self.blur, self.elastic, self.thickness, self.contrast, self.invert, self.lines,
                    self.lighting))


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 30
    batch_size: int = 128
    train_subset: int = 0  # 0: all 60,000 training images (less the validation split)
    test_subset: int = 0  # 0: all 10,000 test images
    val_size: int = 5000  # held out of the training images; the test set chooses nothing
    patience: int = 6  # early stopping on validation accuracy
    time_budget_min: float = 0  # the cosine schedule ends within this many minutes (0: no limit)
    init: str = ""  # a model.keras of the same architecture to start from (fine-tuning); "": random weights
    seed: int = 42

    def check(self) -> None:
        self.model.check()
        self.augment.check()
        if self.epochs < 1 or self.batch_size < 1:
            raise DigitedgeError(f"epochs={self.epochs}, batch_size={self.batch_size}: must be positive")
        if self.init and not Path(self.init).is_file():
            raise DigitedgeError(f"{self.init}: no such model file to start from")
        if self.time_budget_min < 0:
            raise DigitedgeError(f"time_budget_min={self.time_budget_min}: must be 0 (no limit) or more")
        if self.val_size < 10:
            raise DigitedgeError(f"val_size={self.val_size}: need at least 10 validation images")
        available = 60000 - self.val_size
        if self.train_subset < 0 or self.train_subset > available:
            raise DigitedgeError(f"train_subset={self.train_subset}: must be 0 (all) to {available}")


@dataclass(frozen=True)
class SearchSpace:
    """keras-tuner's choices; each list must hold at least one value."""

    filters: tuple = (32, 64, 128)
    dense_units: tuple = (32, 64, 128)
    learning_rate: tuple = (1e-2, 1e-3, 1e-4)
    dropout: tuple = (0.1, 0.25, 0.4)
    conv_blocks: tuple = (2, 3)

    def check(self) -> None:
        empty = [k for k, v in asdict(self).items() if len(v) == 0]
        if empty:
            raise DigitedgeError(f"empty search space for {', '.join(empty)}")
        for k, values in asdict(self).items():
            for v in values:
                replace(ModelConfig(), **{k: v}).check()


@dataclass(frozen=True)
class TuneConfig:
    train: TrainConfig = field(default_factory=TrainConfig)
    space: SearchSpace = field(default_factory=SearchSpace)
    algorithm: str = "random"  # random | hyperband | bayesian
    max_trials: int = 10
    trial_epochs: int = 4  # epochs per trial; the best is then retrained for train.epochs
    trial_subset: int = 20000  # training images per trial (0: all)
    # 0: every trial runs trial_epochs epochs; > 0: every trial spends this many giga multiply-adds
    # of forward passes (cheap models see more images) in one long epoch (Hyperband: trial_epochs).
    trial_compute: float = 0

    @property
    def fit_epochs(self) -> int:
        """Epochs of one trial's fit: an equal-compute trial is one long epoch (Hyperband's excepted:
        it counts epochs itself, so its trials split the compute over trial_epochs)."""
        return 1 if self.trial_compute and self.algorithm != "hyperband" else self.trial_epochs

    def check(self) -> None:
        self.train.check()
        self.space.check()
        if self.algorithm not in ALGORITHMS:
            raise DigitedgeError(f"unknown algorithm {self.algorithm!r}: choose {', '.join(ALGORITHMS)}")
        if self.max_trials < 1 or self.trial_epochs < 1:
            raise DigitedgeError(f"max_trials={self.max_trials}, trial_epochs={self.trial_epochs}: must be positive")
        if self.trial_compute < 0:
            raise DigitedgeError(f"trial_compute={self.trial_compute}: must be 0 (equal epochs) or more")


ALGORITHMS = ("random", "hyperband", "bayesian")

# 3e-3, not the default 1e-3: 117 steps at 1e-3 reached 90-93% depending on the CPU's float order
# (a CI machine's 89.8% failed a test's 90% floor); at 3e-3 it is 96-97% in the same 15 s.
QUICK_TRAIN = TrainConfig(
    model=ModelConfig(filters=16, dense_units=64, learning_rate=3e-3),
    epochs=3, train_subset=6000, test_subset=2000, val_size=1000, patience=2,
)
PRESETS = {
    "quick": TuneConfig(
        train=QUICK_TRAIN, max_trials=3, trial_epochs=1, trial_subset=3000,
        space=SearchSpace(filters=(16, 32), dense_units=(32, 64), learning_rate=(1e-3, 1e-2),
                          dropout=(0.25,), conv_blocks=(2,)),
    ),
    # All of the default space (128 filters included), each trial given the same compute (750 G
    # multiply-adds: 40,000 images for 2 blocks of 32 filters, 2,600 for 3 blocks of 128), so the
    # search prefers what trains best in a given time, as the final training must; its cosine
    # schedule is fitted to a time budget. On 2 cores: search ~10 min, training 38, report 1.
    "release": TuneConfig(
        train=TrainConfig(epochs=40, patience=12, time_budget_min=38), max_trials=12, trial_epochs=3,
        trial_subset=0, trial_compute=750,
    ),
}
# Issue 10: the release settings plus augmentations aimed at MNIST-C's weak spots (noise, blur,
# distortion, stroke width, contrast, polarity). None of them is an MNIST-C corruption itself.
ROBUST_AUGMENT = AugmentConfig(noise=0.2, blur=1.2, elastic=1.0, thickness=1, contrast=0.4, invert=0.1, lines=3.0,
                               lighting=0.8)
PRESETS["robust"] = replace(PRESETS["release"], train=replace(PRESETS["release"].train, augment=ROBUST_AUGMENT))


def preset(name: str) -> TuneConfig:
    if name not in PRESETS:
        raise DigitedgeError(f"unknown preset {name!r}: choose {', '.join(PRESETS)}")
    return PRESETS[name]
