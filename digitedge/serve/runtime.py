"""What the routes share: the models, the worker pool, the live source, the counters.

Inference runs in a small thread pool, never on the event loop; each worker has its own
interpreter (they are not thread-safe), and so has the live source.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from digitedge import __version__
from digitedge.errors import ImageError

from .errors import ApiError
from .samples import Kept
from .settings import ServeConfig
from .source import LiveSource, SourceSpec
from .uploads import http_status


class Runtime:
    """The loaded models, the upload workers, the live source and what the health page reports."""

    def __init__(self, config: ServeConfig):
        self.config = config
        for folder in (config.save, config.samples):
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        self.kept = Kept(config.samples) if config.samples is not None else None
        self.started = time.monotonic()
        self.stopping = threading.Event()
        self.recognizer, self.model_warnings = self._load()  # the warnings as given, for the terminal
        self.pool: queue.SimpleQueue = queue.SimpleQueue()
        self.pool.put(self.recognizer)
        for _ in range(max(1, config.workers) - 1):
            self.pool.put(self._load()[0])
        self.capacity = max(1, config.workers) + max(0, config.max_waiting)
        self.in_flight = 0  # touched on the event loop only
        self.streams = 0
        self.counts = {"ok": 0, "failed": 0, "busy": 0}
        self.last_error: Optional[dict] = None
        self._saved = itertools.count(1)
        self._lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max(1, config.workers), thread_name_prefix="digitedge-infer")
        self.model_info = self._model_info()
        self.source: Optional[LiveSource] = None
        self.on_release = lambda name: None  # told when close() has released the source
        if config.live_source is not None:
            self.source = LiveSource(
                SourceSpec(config.live_source, config.loop),
                self._load()[0],  # its own interpreter
                config.roi,
                smooth_frames=config.smooth,
                on_error=self.note_error_from("source"),
            )

    def _load(self):
        from digitedge.edge_runtime import load_recognizer
        from digitedge.edge_runtime.preprocess import PhotoConfig

        c = self.config
        from digitedge.edge_runtime.recognizer import DEFAULT_MIN_CONFIDENCE

        confidence = DEFAULT_MIN_CONFIDENCE if c.min_confidence is None else c.min_confidence
        return load_recognizer(c.model, c.backend, c.threads, PhotoConfig(deskew=c.deskew), confidence, c.override,
                               c.personal)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self.source is not None:
            self.source.start()

    def close(self) -> None:
        """Stop the live source (releasing the camera) and the workers; safe to call twice."""
        self.stopping.set()
        if self.source is not None:
            held = not self.source.released
            self.source.stop()  # also ends a thread that is waiting to reopen a camera
            if held and self.source.released:
                self.on_release(self.source.spec.name)
        self.executor.shutdown(wait=False, cancel_futures=True)

    # --- state ---------------------------------------------------------------------------

    def note_error(self, where: str, message: str) -> None:
        with self._lock:
            self.last_error = {
                "where": where,
                "message": message,
                "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }

    def note_error_from(self, where: str):
        return lambda message: self.note_error(where, message)

    def _model_info(self) -> dict:
        """The model as /api/model shows it: by its file name, never by the server's path to it."""
        r = self.recognizer
        path = Path(r.model_path)
        data = path.read_bytes()
        return {
            "file": path.name,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "backend": r.backend,
            "threads": self.config.threads,
            "min_confidence": r.min_confidence,
            "labels": r.labels,
            "has_metadata": r.has_metadata,
            "personal": self.config.personal.name if self.config.personal is not None else None,
            "metadata": r.metadata,
            "warnings": [w.replace(str(path), path.name) for w in self.model_warnings],
        }

    def health(self) -> dict:
        with self._lock:
            last_error = self.last_error
        return {
            "status": "ok",
            "version": __version__,
            "model": self.model_info["file"],
            "backend": self.model_info["backend"],
            "personal": self.model_info["personal"],  # the personal head's file name, or None
            "samples": self.kept is not None,  # whether the page offers "this is a ..." corrections
            "uptime_s": round(time.monotonic() - self.started, 1),
            "frames_processed": self.source.frames if self.source else 0,
            "frames_dropped": self.source.dropped if self.source else 0,  # a camera's, never read: newest wins
            "source": self.source.info() if self.source else None,
            "uploads": {**self.counts, "in_flight": self.in_flight, "capacity": self.capacity},
            "last_error": last_error,
        }

    # --- uploads -------------------------------------------------------------------------

    def try_admit(self) -> bool:
        if self.in_flight >= self.capacity:
            return False
        self.in_flight += 1
        return True

    def release(self, _future=None) -> None:
        self.in_flight -= 1

    def infer(self, raw: bytes, name: str) -> dict:
        """Decode and read one upload (in a worker thread): the predict JSON, or ApiError."""
        recognizer = self.pool.get()
        try:
            # bytes in: edge_runtime decodes them safely (the bomb check comes before any
            # decoding) at the size it reads, and gives the boxes in the upload's own pixels
            reading, kept = self._read(recognizer, raw, name)
        except ImageError as e:
            error = ApiError(http_status(e, raw), str(e), name)
            self._save(raw, name, {"path": name, "error": str(e)})
            raise error from None
        finally:
            self.pool.put(recognizer)
        result = reading.to_dict(name)
        if kept is not None:
            result["read_id"] = kept
        if self.config.personal is not None:
            result["personal"] = self.config.personal.name
        self._save(raw, name, result)
        return result

    def _read(self, recognizer, raw: bytes, name: str):
        """(the reading, the id its pixels are kept under for corrections, or None without --samples)."""
        if self.kept is None:
            return recognizer.read(raw, name=name), None
        from digitedge.edge_runtime.imageio import read_image_scaled

        # decoded here, as Recognizer.read would, to keep the pixels the digits are cut out of
        pixels, scale = read_image_scaled(raw, name, (recognizer.photo.work_side, recognizer.photo.max_work_side))
        reading = recognizer.read(pixels, name=name)
        return reading.scaled(scale), self.kept.keep(name, pixels, reading)

    def _save(self, raw: bytes, name: str, result: dict) -> None:
        folder = self.config.save
        if folder is None:
            return
        from digitedge.edge_runtime.imageio import EXTENSIONS

        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        suffix = Path(name).suffix.lower()
        stem = folder / f"{stamp}-{next(self._saved):05d}"
        try:
            stem.with_suffix(suffix if suffix in EXTENSIONS else ".bin").write_bytes(raw)
            stem.with_suffix(".json").write_text(json.dumps(result) + "\n")
        except OSError as e:  # the folder by its name only: the page shows this
            self.note_error("save", f"{folder.name}: cannot save the upload ({e.strerror or e})")
