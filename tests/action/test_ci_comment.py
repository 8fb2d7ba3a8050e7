"""`seedflow ci comment`: the one sticky plan comment, over real HTTP against a loopback
server that plays GitHub's REST API (githubapi.py). Each test asserts what the server got."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import Run
from corekit import assert_no_traceback
from githubapi import BOT, FakeGitHub

from seedflow.ci.github import MAX_BODY

MARK = "<!-- seedflow-plan: default -->"


@pytest.fixture
def body(tmp_path: Path) -> Path:
    path = tmp_path / "plan.md"
    path.write_text("### seedflow plan: `pipelines/p.yaml`\n\n**4 to create (paid)**\n")
    return path


@pytest.fixture
def comment(run: Run, github: FakeGitHub, body: Path,
            monkeypatch: pytest.MonkeyPatch) -> Run:
    """``seedflow ci comment BODY --pr 7 ...`` against the server, with its token."""
    monkeypatch.setenv("GITHUB_TOKEN", github.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", github.repo)
    monkeypatch.setenv("GITHUB_API_URL", github.url)

    def post(*args: str) -> object:
        return run("ci", "comment", body, "--pr", "7", *args)

    return post


def test_the_first_run_creates_the_comment_and_later_runs_edit_it(
        comment: Run, github: FakeGitHub, body: Path) -> None:
    github.add(7, "LGTM", user="octocat")
    first = comment()
    assert first.code == 0, first.text
    assert "Posted the plan comment: https://github.test/acme/catalog/pull/7#issuecomment-1001" \
        in first.out
    body.write_text("### seedflow plan: `pipelines/p.yaml`\n\nNo changes.\n")
    second = comment()
    assert second.code == 0, second.text
    assert "Updated the plan comment" in second.out
    assert [c.body for c in github.on(7)] == [
        "LGTM", f"{MARK}\n### seedflow plan: `pipelines/p.yaml`\n\nNo changes.\n"]
    assert github.calls() == [
        ("GET", "/api/v3/repos/acme/catalog/issues/7/comments"),
        ("POST", "/api/v3/repos/acme/catalog/issues/7/comments"),
        ("GET", "/api/v3/repos/acme/catalog/issues/7/comments"),
        ("PATCH", "/api/v3/repos/acme/catalog/issues/comments/1001")]
    assert {r.authorization for r in github.requests} == {f"Bearer {github.token}"}
    assert github.requests[0].query["per_page"] == ["100"]


def test_every_page_of_comments_is_read_to_find_the_marker(comment: Run,
                                                           github: FakeGitHub) -> None:
    for n in range(5):
        github.add(7, f"review {n}", user="octocat")
    ours = github.add(7, f"{MARK}\nold plan")
    github.add(7, "after", user="octocat")          # 7 comments, 2 a page: 4 pages
    result = comment()
    assert result.code == 0, result.text
    assert [r.query.get("page") for r in github.requests if r.method == "GET"] == [
        None, ["2"], ["3"], ["4"]]
    assert github.calls()[-1] == ("PATCH", f"/api/v3/repos/acme/catalog/issues/comments/{ours.id}")
    assert ours.body.startswith(f"{MARK}\n### seedflow plan")
    assert len(github.on(7)) == 7


def test_keys_keep_separate_comments(comment: Run, github: FakeGitHub) -> None:
    assert comment("--key", "catalog").code == 0
    assert comment("--key", "social/banners").code == 0
    assert comment("--key", "catalog").code == 0
    assert [c.body.splitlines()[0] for c in github.on(7)] == [
        "<!-- seedflow-plan: catalog -->", "<!-- seedflow-plan: social/banners -->"]


def test_a_marker_in_someone_elses_comment_is_left_alone(comment: Run,
                                                         github: FakeGitHub) -> None:
    spoof = github.add(7, f"{MARK}\nplease approve", user="mallory")
    result = comment()
    assert result.code == 0, result.text
    assert spoof.body == f"{MARK}\nplease approve"
    assert [c.user for c in github.on(7)] == ["mallory", BOT]
    assert [m for m, _ in github.calls()] == ["GET", "PATCH", "POST"]


def test_an_overlong_plan_is_cut_with_a_note(comment: Run, github: FakeGitHub,
                                             body: Path) -> None:
    body.write_text("".join(f"| + | create | `hero[n={n}]` → ↻ |\n" for n in range(5000)))
    assert comment().code == 0
    posted = github.on(7)[0].body
    assert len(posted.encode()) <= MAX_BODY
    assert posted.startswith(MARK)
    assert posted.endswith("the whole plan is in the job summary of this run.\n")
    assert "| + | create | `hero[n=1000]` → ↻ |\n" in posted       # whole lines only
    assert "hero[n=4999]" not in posted


def test_the_run_is_linked_from_the_comment(comment: Run, github: FakeGitHub,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.test")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    assert comment().code == 0
    assert github.on(7)[0].body.endswith(
        "<sub>Planned by seedflow in [run 4242](https://github.test/acme/catalog/actions/runs/"
        "4242).</sub>\n")


def test_the_comment_url_is_an_output(comment: Run, github: FakeGitHub, tmp_path: Path) -> None:
    out = tmp_path / "github-output"
    assert comment("--github-output", out).code == 0
    assert out.read_text() == ("comment-url=https://github.test/acme/catalog/pull/7"
                               "#issuecomment-1000\n")


@pytest.mark.parametrize(("status", "message", "expected"), [
    (403, "Resource not accessible by integration",
     "error: reading the comments (page 1): GitHub answered 403 (Resource not accessible by "
     "integration). The token may not write comments here: give the job `permissions: "
     "pull-requests: write`. On pull requests from forks the job's token is read-only, so no "
     "comment can be posted; the plan is in the job summary\n"),
    (500, "Server Error", "error: reading the comments (page 1): GitHub answered 500 (Server "
     "Error); try again later\n"),
])
def test_api_errors_are_one_clear_message(comment: Run, github: FakeGitHub, status: int,
                                          message: str, expected: str) -> None:
    github.fail["GET"] = (status, message)
    result = comment()
    assert (result.code, result.err) == (1, expected)
    assert_no_traceback(result)
    assert github.token not in result.text


def test_a_refused_token_is_named_but_never_shown(comment: Run, github: FakeGitHub,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "ghp_wrong-token-that-must-not-appear"
    monkeypatch.setenv("GITHUB_TOKEN", wrong)
    github.fail["GET"] = (401, f"Bad credentials for {wrong}")    # even if GitHub echoed it
    result = comment()
    assert result.code == 1
    assert result.err == ("error: reading the comments (page 1): GitHub refused the token (401). "
                          "Check the action's `github-token` input (Bad credentials for ***)\n")
    assert wrong not in result.text


def test_no_token_is_an_error_before_any_request(comment: Run, github: FakeGitHub,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    result = comment()
    assert result.code == 1
    assert "no GitHub token: pass the action's `github-token` input" in result.err
    assert github.requests == []


def test_the_token_never_leaves_the_api_host(comment: Run, github: FakeGitHub) -> None:
    for n in range(3):
        github.add(7, f"review {n}", user="octocat")
    github.next_link_host = "attacker.invalid"
    result = comment()
    assert result.code == 1
    assert result.err == (
        "error: the comment list points to its next page on another host "
        "(http://attacker.invalid); the token goes only to http://127.0.0.1, so stopping here\n")
    assert github.calls() == [("GET", "/api/v3/repos/acme/catalog/issues/7/comments")]


def test_an_unreachable_api_is_one_clear_message(comment: Run, github: FakeGitHub,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9/api/v3")
    result = comment()
    assert result.code == 1
    assert result.err.startswith("error: reading the comments (page 1): could not reach "
                                 "http://127.0.0.1:9/api/v3 (ConnectError")
    assert_no_traceback(result)


@pytest.mark.parametrize(("args", "message"), [
    (("--key", "a -->b"), "error: comment key 'a -->b': use 1 to 100 of A-Z a-z 0-9 . _ / -\n"),
    (("--repo", "not a repo"), "error: repository 'not a repo': expected OWNER/NAME "
     "(GITHUB_REPOSITORY)\n"),
    (("--api-url", "file:///etc"), "error: GITHUB_API_URL 'file:///etc' is not an http(s) URL\n"),
])
def test_bad_input_is_refused_before_any_request(comment: Run, github: FakeGitHub,
                                                 args: tuple[str, ...], message: str) -> None:
    result = comment(*args)
    assert (result.code, result.err) == (1, message)
    assert github.requests == []


def test_a_missing_body_file_is_a_clear_error(run: Run, github: FakeGitHub, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", github.token)
    result = run("ci", "comment", tmp_path / "nope.md", "--pr", "7", "--repo", github.repo,
                 "--api-url", github.url)
    assert result.code == 1
    assert result.err.startswith(f"error: cannot read the comment body {tmp_path / 'nope.md'}")
    assert github.requests == []


def test_a_wrong_token_is_refused_by_the_server_and_not_shown(
        comment: Run, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_expired-token-0000")
    result = comment()
    assert result.code == 1
    assert "GitHub refused the token (401)" in result.err
    assert "ghp_expired-token-0000" not in result.text
    assert [r.authorization for r in github.requests] == ["Bearer ghp_expired-token-0000"]
    assert github.on(7) == []
