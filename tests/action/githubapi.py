"""A small GitHub REST server on loopback for the action's tests: the three issue-comment
endpoints the sticky comment uses, served under ``/api/v3`` as GitHub Enterprise Server does.

It keeps comments per pull request, pages them with ``Link: <...>; rel="next"`` (its own page
size, whatever ``per_page`` asks, so a few comments already make several pages), checks the
token, refuses to edit a comment someone else wrote (403), and records every request it gets.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT = "github-actions[bot]"
LIST = re.compile(r"/api/v3/repos/([^/]+/[^/]+)/issues/(\d+)/comments")
ONE = re.compile(r"/api/v3/repos/([^/]+/[^/]+)/issues/comments/(\d+)")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    body: dict[str, Any] | None


@dataclass
class Comment:
    id: int
    issue: int
    body: str
    user: str = BOT


@dataclass
class FakeGitHub:
    token: str = "ghs_test-token-0123456789abcdef"
    repo: str = "acme/catalog"
    page_size: int = 2
    requests: list[Request] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)   # method → answer
    next_link_host: str | None = None       # send rel="next" links to another host
    url: str = ""

    def add(self, issue: int, body: str, user: str = BOT) -> Comment:
        comment = Comment(1000 + len(self.comments), issue, body, user)
        self.comments.append(comment)
        return comment

    def on(self, issue: int) -> list[Comment]:
        return [c for c in self.comments if c.issue == issue]

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def as_json(self, comment: Comment) -> dict[str, Any]:
        return {"id": comment.id, "body": comment.body, "user": {"login": comment.user},
                "html_url": f"https://github.test/{self.repo}/pull/{comment.issue}"
                            f"#issuecomment-{comment.id}"}


def serve(github: FakeGitHub) -> Iterator[FakeGitHub]:
    """Run ``github`` on 127.0.0.1 (an ephemeral port) until the generator is closed."""
    handler = type("Handler", (_Handler,), {"github": github})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    github.url = f"http://127.0.0.1:{server.server_address[1]}/api/v3"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield github
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        gh = self.github
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        query = parse_qs(url.query)
        gh.requests.append(Request(method, url.path, query, self.headers.get("Authorization"),
                                   body))
        if method in gh.fail:
            status, message = gh.fail[method]
            return self._send(status, {"message": message})
        if self.headers.get("Authorization") != f"Bearer {gh.token}":
            return self._send(401, {"message": "Bad credentials"})
        listing, one = LIST.fullmatch(url.path), ONE.fullmatch(url.path)
        if listing and listing[1] == gh.repo and method == "GET":
            return self._list(int(listing[2]), int(query.get("page", ["1"])[0]))
        if listing and listing[1] == gh.repo and method == "POST":
            comment = gh.add(int(listing[2]), body["body"])
            return self._send(201, gh.as_json(comment))
        if one and one[1] == gh.repo and method == "PATCH":
            return self._edit(int(one[2]), body["body"])
        return self._send(404, {"message": "Not Found"})

    def _list(self, issue: int, page: int) -> None:
        gh = self.github
        comments = gh.on(issue)
        start = (page - 1) * gh.page_size
        chunk = comments[start:start + gh.page_size]
        headers = {}
        if start + gh.page_size < len(comments):
            host = gh.next_link_host or urlsplit(gh.url).netloc
            link = (f"http://{host}/api/v3/repos/{gh.repo}/issues/{issue}/comments"
                    f"?per_page=100&page={page + 1}")
            headers["Link"] = f'<{link}>; rel="next"'
        self._send(200, [gh.as_json(c) for c in chunk], headers)

    def _edit(self, comment_id: int, body: str) -> None:
        gh = self.github
        found = [c for c in gh.comments if c.id == comment_id]
        if not found:
            return self._send(404, {"message": "Not Found"})
        if found[0].user != BOT:
            return self._send(403, {"message": "Resource not accessible by integration"})
        found[0].body = body
        self._send(200, gh.as_json(found[0]))

    def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
