"""`digitedge serve --personal --samples` (issue #20): uploads read through a personal head, and the
page's "this is a ..." correction saving a digit into the SAMPLES folder, through Starlette's
test client. TensorFlow-free once the shipped model has a features output (personal_helpers.py).
"""

from __future__ import annotations

import pytest
from personal_helpers import feature_model_fixture, head_file_fixture, samples_fixture  # noqa: F401
from serve_helpers import files_fixture  # noqa: F401
from test_serve import TOKEN, TestClient, status_of  # skipped with it without the web extra

from digitedge.serve.app import ServeConfig, create_app

pytestmark = pytest.mark.edge


def test_a_correction_saves_the_digit_into_samples(files, tmp_path, feature_model):
    from digitedge.edge_runtime.recognizer import Recognizer
    from digitedge.edge_runtime.samples import read_samples

    folder = tmp_path / "mine"
    with TestClient(create_app(ServeConfig(samples=folder, model=feature_model))) as c:
        assert c.get("/api/health").json()["samples"] is True
        page = c.get("/").text
        assert "this is a …" in page and "/api/sample" in page
        read = c.post("/api/predict?name=eighty-six.jpg", content=files["photo"].read_bytes()).json()
        assert read["text"] == "86" and "read_id" in read and "personal" not in read
        for index, digit in ((0, 8), (1, 5)):  # the 6 is said to be a 5: saved as the user says
            r = c.post("/api/sample", json={"read_id": read["read_id"], "index": index, "digit": digit})
            assert r.status_code == 200, r.text
            assert r.json() == {"saved": f"{digit}/eighty-six-{index + 1}.png", "digit": digit}
        again = c.post("/api/sample", json={"read_id": read["read_id"], "index": 0, "digit": "8"})
        assert again.json()["saved"] == "8/eighty-six-1-2.png"  # never over an earlier sample
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == [
        "5/eighty-six-2.png", "8/eighty-six-1-2.png", "8/eighty-six-1.png"]
    samples = read_samples(folder)  # as personalize reads it: one digit a photo, labelled by its folder
    assert samples.skipped == [] and samples.labels.tolist() == [5, 8, 8]
    assert [Recognizer(feature_model).classify(c)[0] for c in samples.crops] == [6, 8, 8]


def test_bad_corrections_are_refused_and_write_nothing(files, tmp_path):
    folder = tmp_path / "mine"
    with TestClient(create_app(ServeConfig(samples=folder))) as c:
        read = c.post("/api/predict?name=../../evil.jpg", content=files["photo"].read_bytes()).json()
        rid = read["read_id"]
        for body, expected in [
            ({"read_id": rid, "index": 0, "digit": 10}, (400, "digit 10: must be one digit, 0 to 9")),
            ({"read_id": rid, "index": 0, "digit": "../7"}, (400, 'digit "../7": must be one digit, 0 to 9')),
            ({"read_id": rid, "index": 0, "digit": True}, (400, "digit true: must be one digit, 0 to 9")),
            ({"read_id": rid, "index": 2, "digit": 1}, (400, "index 2: that upload has 2 digits")),
            ({"read_id": rid, "index": "0", "digit": 1}, (400, "read_id must be a string and index a whole number")),
            ({"read_id": "nope", "index": 0, "digit": 1},
             (404, "that upload is no longer kept (only the last 16 are): read the photo again")),
            ({"index": 0}, (400, 'send JSON {"read_id": ..., "index": <digit number, from 0>, "digit": <0-9>}')),
        ]:
            assert status_of(c.post("/api/sample", json=body)) == expected, body
        assert status_of(c.post("/api/sample", content=b"x" * 5000))[0] == 413
        saved = c.post("/api/sample", json={"read_id": rid, "index": 0, "digit": 8}).json()["saved"]
    assert saved == "8/evil-1.png"  # the upload's name reduced to its last part: nothing outside the folder
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == ["mine/8/evil-1.png"]


def test_without_samples_there_is_no_correction(files):
    with TestClient(create_app(ServeConfig())) as c:
        assert c.get("/api/health").json()["samples"] is False
        read = c.post("/api/predict", content=files["photo"].read_bytes()).json()
        assert "read_id" not in read
        assert status_of(c.post("/api/sample", json={"read_id": "x", "index": 0, "digit": 1})) == (
            404, "this server keeps no samples (start it with --samples DIR)")


def test_corrections_need_the_token(files, tmp_path):
    with TestClient(create_app(ServeConfig(samples=tmp_path / "mine", token=TOKEN))) as c:
        auth = {"Authorization": "Bearer " + TOKEN}
        read = c.post("/api/predict", content=files["photo"].read_bytes(), headers=auth).json()
        body = {"read_id": read["read_id"], "index": 0, "digit": 8}
        assert status_of(c.post("/api/sample", json=body))[0] == 401
        assert c.post("/api/sample", json=body, headers=auth).status_code == 200
    assert [p.name for p in (tmp_path / "mine").rglob("*.png")] == ["upload-1.png"]


def test_uploads_read_through_a_personal_head(files, feature_model, head_file):
    with TestClient(create_app(ServeConfig(model=feature_model, personal=head_file))) as c:
        health = c.get("/api/health").json()
        assert health["personal"] == head_file.name and c.get("/api/model").json()["personal"] == head_file.name
        read = c.post("/api/predict", content=files["photo"].read_bytes()).json()
        assert read["text"] == "86" and read["personal"] == head_file.name  # by its name, never the server's path
    with TestClient(create_app(ServeConfig())) as c:
        assert c.get("/api/health").json()["personal"] is None


def test_the_live_readings_name_the_head(files, feature_model, head_file):
    from test_serve_live import events

    config = ServeConfig(source=str(files["video"]), model=feature_model, personal=head_file)
    with TestClient(create_app(config)) as c:
        shown = [e for e in events(c.get("/api/stream?limit=3")) if e["frame"]]
    assert shown and all(e["personal"] == head_file.name for e in shown)
