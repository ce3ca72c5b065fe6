"""What `digitedge serve` is configured with: one plain dataclass, no framework imported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # the source module loads OpenCV; the settings must not
    from digitedge.edge_runtime.convention import Override

    from .source import Roi

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    model: Optional[Path] = None  # default: the shipped int8 model
    backend: str = "auto"
    threads: Optional[int] = None
    deskew: bool = False
    min_confidence: Optional[float] = None  # a digit under it is unsure; None: the runtime's default
    override: Optional[Override] = None  # --input-range, --invert (a model without metadata)
    camera: Optional[int] = None  # a camera index, or
    source: Optional[str] = None  # a video file or stream URL; neither: uploads only
    loop: bool = False  # a video file starts again when it ends
    roi: Optional[Roi] = None
    smooth: int = 5  # live labels are smoothed over this many frames (1: off)
    token: Optional[str] = None  # when set, every request must carry it
    max_upload: int = 10 * MB  # bytes of one uploaded image
    max_waiting: int = 4  # uploads that may wait for a worker; more get 503
    workers: int = 1  # inference threads for uploads (each has its own interpreter)
    save: Optional[Path] = None  # keep each upload and its result here
    personal: Optional[Path] = None  # a personal head (`digitedge personalize`) the model's readings go through
    samples: Optional[Path] = None  # the page's "this is a ..." corrections save digits here (SAMPLES/<digit>/)
    max_streams: int = 8  # open live views (MJPEG + event streams) at a time

    @property
    def live_source(self):
        """The camera index or the video/stream to read live, as `webcam --source` takes it; None: uploads only."""
        if self.camera is not None:
            return self.camera
        if not self.source:
            return None
        return int(self.source) if self.source.isdigit() else self.source
