"""The one sticky pull-request comment, through GitHub's REST API (github.com or GitHub
Enterprise Server: every URL is built from ``GITHUB_API_URL``).

A comment is ours when its body starts with a hidden marker, ``<!-- seedflow-plan: KEY -->``.
``post_sticky`` pages through the pull request's comments (``Link: rel="next"``, 100 a page)
for those that start with the marker and edits the first one it may edit (PATCH), or creates
one (POST). Anyone can write the marker into a comment of their own; editing theirs is refused
(403), and the next candidate, or a new comment, is used instead. Nothing else is touched.

Every failure is one :class:`GitHubError` saying what to do. The token is sent only to the
API's own origin (a ``next`` link elsewhere is refused, redirects are not followed) and never
appears in a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from seedflow.errors import SeedflowError

MAX_BODY = 65_536            # GitHub refuses longer comment bodies (422)
MAX_PAGES = 500              # 50,000 comments: far beyond any real pull request
TIMEOUT = 30.0
KEY = re.compile(r"[A-Za-z0-9._/-]{1,100}")
REPO = re.compile(r"[A-Za-z0-9._-]+/[A-Za-z0-9._-]+")
TRUNCATED = ("\n\n… The plan is too long for one comment and was cut here; the whole plan is "
             "in the job summary of this run.\n")


class GitHubError(SeedflowError):
    """The comment could not be read or written (``status``: GitHub's answer, if any)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Posted:
    url: str
    created: bool


def marker(key: str) -> str:
    """The hidden first line that makes a comment ours (one per ``key``)."""
    if not KEY.fullmatch(key):
        raise SeedflowError(f"comment key {key!r}: use 1 to 100 of A-Z a-z 0-9 . _ / -")
    return f"<!-- seedflow-plan: {key} -->"


def fit(body: str, limit: int = MAX_BODY) -> str:
    """``body`` cut at a line break, with a note, if GitHub would refuse its length (counted in
    UTF-8 bytes, never fewer than GitHub's characters)."""
    if len(body.encode("utf-8")) <= limit:
        return body
    room = limit - len(TRUNCATED.encode("utf-8"))
    cut = body.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut + TRUNCATED


@dataclass(frozen=True)
class PullRequest:
    api_url: str      # e.g. https://api.github.com or https://ghe.example.com/api/v3
    repo: str         # owner/name
    number: int

    def __post_init__(self) -> None:
        if not REPO.fullmatch(self.repo):
            raise SeedflowError(f"repository {self.repo!r}: expected OWNER/NAME "
                                "(GITHUB_REPOSITORY)")
        url = httpx.URL(self.api_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise SeedflowError(f"GITHUB_API_URL {self.api_url!r} is not an http(s) URL")

    @property
    def comments_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/repos/{self.repo}/issues/{self.number}/comments"

    def comment_url(self, comment_id: int) -> str:
        return f"{self.api_url.rstrip('/')}/repos/{self.repo}/issues/comments/{comment_id}"


def post_sticky(pr: PullRequest, token: str, key: str, body: str) -> Posted:
    """Edit this key's comment on ``pr``, or create it; returns its address."""
    if not token:
        raise GitHubError("no GitHub token: pass the action's `github-token` input (by default "
                          "the job's GITHUB_TOKEN, which needs `permissions: pull-requests: "
                          "write`)")
    text = fit(f"{marker(key)}\n{body}")
    with _client(token) as client:
        api = _Api(client, pr, token)
        for found in api.find(marker(key)):
            try:
                return Posted(api.send("PATCH", pr.comment_url(found), text,
                                       f"editing the plan comment {found}"), created=False)
            except GitHubError as exc:
                if exc.status not in (403, 404):   # someone else's comment, or just deleted
                    raise
        return Posted(api.send("POST", pr.comments_url, text, "creating the plan comment"),
                      created=True)


def _client(token: str) -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, headers={
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "seedflow-action",
    })


@dataclass(frozen=True)
class _Api:
    client: httpx.Client
    pr: PullRequest
    token: str

    def find(self, mark: str) -> list[int]:
        """The ids of the comments whose body starts with ``mark``, oldest first, from every
        page."""
        url: str | None = f"{self.pr.comments_url}?per_page=100"
        found: list[int] = []
        for page in range(1, MAX_PAGES + 1):
            assert url is not None
            response = self.call("GET", url, None, f"reading the comments (page {page})")
            found += [comment["id"] for comment in _comments(response, page)
                      if str(comment.get("body") or "").startswith(mark)
                      and isinstance(comment.get("id"), int)]
            url = self.next_page(response)
            if url is None:
                return found
        raise GitHubError(f"the pull request has more than {MAX_PAGES} pages of comments; "
                          "not looking further")

    def next_page(self, response: httpx.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        here, there = httpx.URL(self.pr.api_url), httpx.URL(link)
        if (there.scheme, there.host, there.port) != (here.scheme, here.host, here.port):
            raise GitHubError(f"the comment list points to its next page on another host "
                              f"({there.scheme}://{there.host}); the token goes only to "
                              f"{here.scheme}://{here.host}, so stopping here")
        return link

    def send(self, method: str, url: str, body: str, doing: str) -> str:
        response = self.call(method, url, {"body": body}, doing)
        data = _json(response, doing)
        address = data.get("html_url") if isinstance(data, dict) else None
        return str(address or url)

    def call(self, method: str, url: str, payload: dict[str, str] | None,
             doing: str) -> httpx.Response:
        try:
            response = self.client.request(method, url, json=payload)
        except httpx.HTTPError as exc:
            raise GitHubError(self.redact(f"{doing}: could not reach {self.pr.api_url} "
                                          f"({type(exc).__name__}: {exc})")) from None
        if response.is_success:
            return response
        raise GitHubError(self.redact(f"{doing}: {_explain(response)}"), response.status_code)

    def redact(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text


def _comments(response: httpx.Response, page: int) -> list[dict[str, Any]]:
    data = _json(response, f"reading the comments (page {page})")
    if not isinstance(data, list):
        raise GitHubError(f"reading the comments (page {page}): GitHub answered something "
                          "other than a list of comments")
    return [c for c in data if isinstance(c, dict)]


def _json(response: httpx.Response, doing: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise GitHubError(f"{doing}: GitHub's answer (HTTP {response.status_code}) is not "
                          "JSON") from None


def _explain(response: httpx.Response) -> str:
    """What an error answer means, and what to do about it."""
    status = response.status_code
    said = _message(response)
    if status == 401:
        return ("GitHub refused the token (401). Check the action's `github-token` input "
                f"({said})")
    if status in (403, 404):
        return (f"GitHub answered {status} ({said}). The token may not write comments here: "
                "give the job `permissions: pull-requests: write`. On pull requests from forks "
                "the job's token is read-only, so no comment can be posted; the plan is in the "
                "job summary")
    if status == 422:
        return f"GitHub refused the comment (422: {said})"
    return f"GitHub answered {status} ({said}); try again later"


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    message = data.get("message") if isinstance(data, dict) else None
    text = str(message) if message else response.reason_phrase or "no message"
    return " ".join(text.split())[:300]
