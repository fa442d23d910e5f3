"""The review app: its page and a small JSON API over a workflow folder (swaplib.review.folder),
every request checked by swaplib.review.guard first. `serve` runs it on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
import time
import webbrowser
from pathlib import Path

from flask import Flask, Response, jsonify, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from swaplib.core.errors import SwaplibError
from swaplib.review.folder import Folder
from swaplib.review.frames import add_frame_routes
from swaplib.review.guard import (
    TOKEN_COOKIE,
    TOKEN_HEADER,
    TOKEN_PARAM,
    Refused,
    check_host,
    check_token,
    inside,
    new_token,
)
from swaplib.review.masks import add_mask_routes
from swaplib.review.merger import Merger, declarations

STATIC = Path(__file__).with_name("static")
log = logging.getLogger("swaplib.review")


def make_app(folder: Folder, token: str, port: int) -> Flask:
    """The app for `folder`, answering requests that carry `token` and name 127.0.0.1:`port`."""
    app = Flask(__name__, static_folder=None)
    merger = Merger(folder)

    @app.before_request
    def guard():
        check_host(request.host, port)
        # Reading may carry the token in the URL or the page's cookie; changing anything needs the
        # header, which a page from another site cannot set on a request to this one.
        given = request.headers.get(TOKEN_HEADER)
        if request.method == "GET":
            given = given or request.args.get(TOKEN_PARAM) or request.cookies.get(TOKEN_COOKIE)
        check_token(token, given)

    @app.errorhandler(Refused)
    def refused(error: Refused):
        return jsonify(error=error.why), error.status

    @app.errorhandler(SwaplibError)
    def bad_request(error: SwaplibError):
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.description), error.code

    @app.get("/")
    def page():
        response = send_file(STATIC / "index.html", max_age=0)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response

    @app.get("/static/<name>")
    def static_file(name: str):
        return send_file(inside(STATIC, name), max_age=0)

    @app.get("/files/<path:relative>")
    def workdir_file(relative: str):
        path = inside(folder.root, relative)
        if not path.is_file():
            raise Refused(404, f"{relative}: no such file in the work folder")
        return send_file(path, max_age=0)

    @app.get("/api/videos")
    def videos():
        return jsonify(videos=folder.videos(), running=folder.running())

    @app.get("/api/videos/<video>/faces")
    def faces(video: str):
        return jsonify(faces=folder.faces(video), decisions=folder.decisions(video),
                       sheet=str(folder.curation_sheet(video).relative_to(folder.root)))

    @app.post("/api/videos/<video>/curation")
    def curate(video: str):
        body = _json_body()
        path = folder.curate(video, body.get("faces"), body.get("action"), str(body.get("note", "")))
        return jsonify(written=str(path.relative_to(folder.root)))

    @app.get("/api/dry-run")
    def dry_run():
        return jsonify(folder.dry_run())

    @app.get("/api/models")
    def models():
        return jsonify(folder.models())

    @app.post("/api/models/<model>/stop")
    def stop(model: str):
        return jsonify(written=str(folder.stop(model).relative_to(folder.root)))

    @app.get("/api/merge")
    def merge_page():
        return jsonify(declarations=declarations(), pairs=merger.pairs(), render=folder.job())

    @app.get("/api/pairs/<pair>/settings/<int:frame>")
    def frame_settings(pair: str, frame: int):
        return jsonify(merger.settings_at(pair, frame))

    @app.get("/api/pairs/<pair>/frames/<int:frame>.png")
    def merged_frame(pair: str, frame: int):
        try:
            changes = json.loads(request.args.get("changes") or "{}")
        except ValueError:
            raise Refused(400, "changes must be a JSON object of merge settings") from None
        if not isinstance(changes, dict):
            raise Refused(400, "changes must be a JSON object of merge settings")
        started = time.perf_counter()
        png = merger.draw(pair, frame, changes)
        return Response(png, mimetype="image/png",
                        headers={"X-Draw-Seconds": f"{time.perf_counter() - started:.4f}", "Cache-Control": "no-store"})

    @app.post("/api/pairs/<pair>/overrides")
    def save_overrides(pair: str):
        body = _json_body()
        changes = body.get("changes")
        if not isinstance(changes, dict):
            raise Refused(400, "changes must be a JSON object of merge settings")
        sheet = merger.apply(pair, body.get("first"), body.get("last"), changes)
        return jsonify(written=str(sheet.relative_to(folder.root)))

    @app.post("/api/pairs/<pair>/render")
    def render(pair: str):
        return jsonify(merger.render(pair))

    @app.get("/api/job")
    def job():
        return jsonify(folder.job())

    @app.post("/api/models/<model>/train-on")
    def train_on(model: str):
        body = _json_body()
        minutes = body.get("minutes")
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float))):
            raise Refused(400, "minutes must be a number (0: no limit) or left out")
        return jsonify(folder.train_on(model, body.get("more"), minutes))

    add_mask_routes(app, folder)
    add_frame_routes(app, folder)
    return app


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(400, "the request's body must be a JSON object")
    return body


class Server:
    """The app served on 127.0.0.1 (port 0: a free one), in a thread of this process."""

    def __init__(self, workdir: Path, port: int = 0, token: str | None = None):
        self.token = token or new_token()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request: the page asks often
        self.folder = Folder(workdir)
        self._server = make_server("127.0.0.1", port, None, threaded=True)
        self.port = self._server.server_port
        self._server.app = make_app(self.folder, self.token, self.port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?{TOKEN_PARAM}={self.token}"

    def start(self) -> Server:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()


def serve(workdir: Path, port: int = 0, open_browser: bool = True) -> None:
    """Run the app until interrupted, saying where it is."""
    server = Server(workdir, port)
    print(f"swaplib review of {server.folder.root}: open {server.url}\n(only this machine can reach it; Ctrl-C stops)",
          flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
