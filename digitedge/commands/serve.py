"""`digitedge serve`: a web page and an HTTP API on the device (needs the `web` extra).

Imports stay inside the functions: `digitedge --help` must not load Starlette or OpenCV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from digitedge.commands import echo_warnings, one_line_errors
from digitedge.commands.options import (
    Backend,
    Camera,
    InputRange,
    Invert,
    LiveSmooth,
    MinConfidence,
    Model,
    Personal,
    Roi,
    Source,
    Threads,
    min_confidence,
    override,
    parse_roi,
)
from digitedge.errors import DigitedgeError

LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@one_line_errors
def serve(
    # The live source, as `digitedge webcam` takes it (but no camera unless asked: uploads only).
    camera: Camera = None,
    source: Source = None,
    roi: Roi = None,
    smooth: LiveSmooth = 5,
    model: Model = None,
    backend: Backend = "auto",
    threads: Threads = None,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; any but loopback needs the token."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    token: Optional[str] = typer.Option(
        None,
        "--token",
        envvar="DIGITEDGE_TOKEN",
        help="Token clients must send (header Authorization: Bearer <token>, or ?token=). Generated when the "
        "host is not loopback and none is given; on loopback, required only when given.",
    ),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="Largest upload accepted (MB); bigger get 413."),
    max_waiting: int = typer.Option(4, "--max-waiting", help="Uploads that may wait for inference; more get 503."),
    workers: int = typer.Option(1, "--workers", help="Inference threads for uploads."),
    save: Optional[Path] = typer.Option(None, "--save", help="Keep every upload and its result in this folder."),
    samples: Optional[Path] = typer.Option(
        None, "--samples", help="The page offers \"this is a ...\" under each digit of an upload: it saves the digit "
        "into this SAMPLES folder, for digitedge personalize."),
    loop: bool = typer.Option(False, "--loop", help="Play a video file again when it ends."),
    deskew: bool = typer.Option(False, "--deskew", help="Straighten slanted digits first."),
    min_conf: MinConfidence = None,
    input_range: InputRange = None,
    invert: Invert = None,
    personal: Personal = None,
) -> None:
    """Serve a page and an HTTP API: the live view with the digits read, and photo uploads."""
    validate(camera, source, port, max_upload_mb, max_waiting, workers, smooth)
    app, token, generated = configure(
        host, token, max_upload_mb, roi, model=model, backend=backend, threads=threads, deskew=deskew,
        min_confidence=min_confidence(min_conf), override=override(input_range, invert),
        camera=camera, source=source, loop=loop, smooth=smooth, max_waiting=max_waiting, workers=workers, save=save,
        personal=personal, samples=samples,
    )
    runtime = app.state.runtime
    try:
        banner(runtime, host, port, token, generated)
        run(app, runtime, host, port)
    finally:
        runtime.close()  # the camera is released however we stop
    typer.echo("stopped", err=True)


def validate(camera, source, port: int, max_upload_mb: float, max_waiting: int, workers: int, smooth: int) -> None:
    """One-line errors for flags that do not fit, and for a missing web extra, before anything starts."""
    if camera is not None and source is not None:
        raise DigitedgeError("give --camera or --source, not both")
    if not 0 <= port <= 65535:
        raise DigitedgeError(f"--port {port}: not a port number (0-65535)")
    if max_upload_mb <= 0 or max_waiting < 0 or workers < 1 or smooth < 1:
        raise DigitedgeError("--max-upload-mb must be > 0, --max-waiting >= 0, --workers and --smooth >= 1")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise DigitedgeError(f"serve needs the web extra: pip install 'digitedge[web]' ({e})") from None


def configure(host: str, token: Optional[str], max_upload_mb: float, roi: Optional[str], **settings):
    """(the app, the token clients must send, whether it was generated): off loopback a token is required."""
    import secrets

    from digitedge.serve.app import create_app
    from digitedge.serve.settings import MB, ServeConfig

    if token is not None and len(token) < 16:
        raise DigitedgeError("--token: use at least 16 characters (or leave it out to have one generated)")
    generated = token is None and not is_loopback(host)
    if generated:
        token = secrets.token_urlsafe(24)
    config = ServeConfig(roi=parse_roi(roi), token=token, max_upload=int(max_upload_mb * MB), **settings)
    return create_app(config), token, generated


def banner(runtime, host: str, port: int, token: Optional[str], generated: bool) -> None:
    """What is served, where to open it, and the token (on stderr: stdout stays clean)."""
    import socket

    echo_warnings(runtime.model_warnings)
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/"
    what = runtime.source.spec.name if runtime.source else "uploads only"
    head = f" and the personal head {runtime.config.personal}" if runtime.config.personal else ""
    typer.echo(f"serving {what} with {runtime.model_info['file']}{head} ({runtime.model_info['backend']})", err=True)
    if runtime.config.samples is not None:
        typer.echo(f"corrections on the page are saved into {runtime.config.samples}", err=True)
    typer.echo(f"open {address}" + (f"?token={token}" if token else ""), err=True)
    if generated:
        typer.echo(f"token (generated; send it as Authorization: Bearer <token>): {token}", err=True)
    typer.echo("Ctrl-C to stop", err=True)


def run(app, runtime, host: str, port: int) -> None:
    """uvicorn until Ctrl-C; a one-line error when it cannot listen."""
    import uvicorn

    runtime.on_release = lambda name: typer.echo(f"released {name}", err=True)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            runtime.stopping.set()  # open live views end now, so shutdown does not wait for them
            super().handle_exit(sig, frame)

    server = Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            # No logging.config.dictConfig: it closes every handler in the process (TensorFlow's
            # absl handler included, and with it a stream that is not uvicorn's); uvicorn's
            # warnings still reach stderr through logging's last-resort handler.
            log_config=None,
            access_log=False,  # the token may be in a query string
            timeout_graceful_shutdown=3,
            limit_concurrency=64,  # connections beyond this get 503 from uvicorn itself
            lifespan="on",
        )
    )
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind; its own log line says why
        server.started = False
    if not server.started:
        raise DigitedgeError(f"cannot listen on {host}:{port} (in use, or not an address of this device?)")
