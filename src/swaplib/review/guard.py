"""Who may ask the review app, and for which files.

The app binds 127.0.0.1 only. Every request carries the token printed with the app's address
(in the URL, as Jupyter's, then as a same-site cookie for the pictures; a request that changes
anything must carry it in a header, which no other site's page can set); the Host header must name
this machine and port, so a page served elsewhere cannot reach the app by renaming itself (DNS
rebinding); and every path a request names must stay inside the work folder."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path, PurePosixPath

TOKEN_PARAM = "token"
TOKEN_HEADER = "X-Swaplib-Token"
TOKEN_COOKIE = "swaplib_review_token"
LOCAL_NAMES = ("127.0.0.1", "localhost")


class Refused(Exception):
    """A request the app will not serve: its HTTP status and why, in words."""

    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status, self.why = status, why


def new_token() -> str:
    return secrets.token_urlsafe(24)


def check_token(expected: str, given: str | None) -> None:
    if not given:
        raise Refused(403, "no token: open the address swaplib review printed (it ends with ?token=...)")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Refused(403, "wrong token: open the address swaplib review printed")


def check_host(host: str | None, port: int) -> None:
    """The Host header names this machine at the app's port."""
    name, _, given_port = (host or "").rpartition(":")
    if name not in LOCAL_NAMES or given_port != str(port):
        raise Refused(403, f"foreign Host header {host!r}: the app answers at 127.0.0.1:{port} only")


def inside(folder: Path, relative: str) -> Path:
    """`relative` (a path the request names) as a file of `folder`; refused when it is absolute,
    climbs with '..', or leads outside through a link."""
    parts = PurePosixPath(relative).parts
    if not relative or relative.startswith(("/", "\\")) or ":" in relative or ".." in parts or "\\" in relative:
        raise Refused(400, f"path {relative!r} is not a plain path inside the work folder")
    path = (folder / Path(*parts)).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise Refused(400, f"path {relative!r} leads outside the work folder")
    return path
