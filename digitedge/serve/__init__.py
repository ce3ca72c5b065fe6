"""`digitedge serve`: the device's web page and HTTP API (Starlette + uvicorn, no TensorFlow).

Kept out of edge_runtime, which must never import a web framework; it installs with the
`web` extra. `create_app(ServeConfig(...))` gives the ASGI app.
"""
