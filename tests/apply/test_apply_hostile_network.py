"""Apply against a hostile provider, image host and network (docs/security.md, "Hostile
providers and network"): each attack ends in exit 1 with a clear reason, nothing is locked as
succeeded that should not be, nothing outside the project changes, memory and time stay
bounded, and no connection leaves loopback.

The hostile servers are real HTTP servers on 127.0.0.1 (tests/hostile.py); addresses beyond
loopback are only ever *named* (in redirects, lock URLs and fake DNS answers), never reached:
:func:`confine_to_loopback` refuses any such connect and records it.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from applykit import CANARY, Project, Result, Run, events, reported
from hostile import (
    CREATE,
    RECORD,
    Hostile,
    blank_png,
    confine_to_loopback,
    drip,
    endless,
    redirect,
    run_measured,
    send,
    unchanged_outside,
)
from PIL import Image

from seedflow.apply.download import Downloaded, DownloadRefused, download
from seedflow.apply.network import AddressGuard
from seedflow.apply.runtime import download_client
from seedflow.sim import Simulator

IMAGE = "/img/1.png"
Env = Callable[..., dict[str, str]]


def png(colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(out, "PNG")
    return out.getvalue()


def apply(seedflow: Run, project: Project) -> Result:
    return seedflow("apply", str(project.pipeline), "--yes")


def one(project: Project) -> str:
    (address,) = project.write(provider="apikley", things=("mug",), seeds=(1,))
    return address


def failure(result: Result, address: str) -> str:
    """The reason apply gave for ``address`` in its Failed section (exit 1, never 3)."""
    assert result.code == 1, result.text
    kind, reason = reported(result.out, [address])[address]
    assert kind == "failed", result.text
    return reason


def assert_still_submitted(project: Project, address: str) -> None:
    """Nothing locked as succeeded: the task stays recorded, the next apply resumes it."""
    entry = project.entries()[address]
    assert (entry.state, entry.task_id, entry.images) == ("submitted", "t1", ())
    assert project.images() == [] and project.parts() == []


# --- 1. only images that decode are kept -------------------------------------------------------

@pytest.mark.parametrize(("body", "said"), [
    (b"\x89PNG\r\n\x1a\n<html><body>Access denied</body></html>" * 20,
     "starts like a PNG image but is not a readable one (SyntaxError: broken PNG file"),
    (blank_png(8000, 8000), "is a 8000×8000 image, more than the 50,000,000-pixel limit; "
     "nothing was saved"),
], ids=["png-magic-then-html", "64-megapixels"])
def test_bytes_that_do_not_decode_within_the_pixel_cap_are_refused(
        body: bytes, said: str, env: Env, project: Project, seedflow: Run,
        tmp_path: Path) -> None:
    with Hostile() as cdn:
        cdn.provider(IMAGE)
        cdn.routes[IMAGE] = send(200, body, {"Content-Type": "image/png"})
        env(cdn)
        address = one(project)
        with unchanged_outside(tmp_path, project.root, tmp_path / "cache"):
            result = apply(seedflow, project)

    assert said in failure(result, address)
    assert cdn.count(IMAGE) == 1   # a permanent failure: not retried
    assert_still_submitted(project, address)


# --- 2. a restore puts only the recorded bytes in place --------------------------------------

def test_a_restore_that_gets_other_bytes_leaves_the_disk_as_it_was(
        sim: Simulator, env: Env, project: Project, seedflow: Run, tmp_path: Path) -> None:
    env(sim)
    address = one(project)
    assert apply(seedflow, project).code == 0
    (victim,) = project.images()
    victim.unlink()
    locked = project.lock.read_text(encoding="utf-8")
    (image,) = project.entries()[address].images

    with Hostile() as cdn:
        cdn.routes["/x.png"] = send(200, png((1, 2, 3)))   # a fine image, just not this one
        edited = locked.replace(image.url, cdn.url + "/x.png")
        assert edited != locked
        project.lock.write_text(edited, encoding="utf-8")
        with unchanged_outside(tmp_path, project.root, tmp_path / "cache"):
            result = apply(seedflow, project)

    assert "served other bytes than the lock records (sha256 " in failure(result, address)
    assert cdn.count("/x.png") == 1
    assert not victim.exists()   # as before the restore: the wrong bytes never got there
    assert project.parts() == []
    assert project.entries()[address].images[0].sha256 == image.sha256


# --- 3. a total deadline per download ----------------------------------------------------------

def test_a_dripping_image_host_meets_the_deadline_and_the_next_apply_resumes(
        env: Env, project: Project, seedflow: Run) -> None:
    good = png()
    with Hostile() as cdn:
        cdn.provider(IMAGE)
        cdn.routes[IMAGE] = drip(good[:16], total=len(good) + 1000, interval=0.05)
        env(cdn, SEEDFLOW_DOWNLOAD_DEADLINE="0.3", SEEDFLOW_RETRY_BASE="0.01")
        address = one(project)
        started = time.monotonic()
        result = apply(seedflow, project)
        took = time.monotonic() - started

        reason = failure(result, address)
        assert reason == (f"downloading {cdn.url}{IMAGE} took longer than 0.3s "
                          "(SEEDFLOW_DOWNLOAD_DEADLINE); nothing was saved, retry later")
        assert cdn.count(IMAGE) == 8   # retried as any passing fault is
        assert took < 15
        assert_still_submitted(project, address)

        cdn.routes[IMAGE] = send(200, good)
        again = apply(seedflow, project)

    assert again.code == 0, again.text
    assert cdn.count(CREATE) == 1   # resumed, not paid again
    project.assert_intact([address])


# --- 4. redirects to other schemes -------------------------------------------------------------

@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x.png",
                                    "data:image/png;base64,iVBORw0KGgo="])
def test_a_redirect_to_another_scheme_fails_at_once(target: str, env: Env, project: Project,
                                                    seedflow: Run, tmp_path: Path) -> None:
    with Hostile() as cdn:
        cdn.provider(IMAGE)
        cdn.routes[IMAGE] = redirect(target)
        env(cdn)
        address = one(project)
        with unchanged_outside(tmp_path, project.root, tmp_path / "cache"):
            result = apply(seedflow, project)

    reason = failure(result, address)
    if target.startswith("data:"):   # httpx cannot even read it as a redirect target
        assert reason == (f"{cdn.url}{IMAGE} redirects to a URL seedflow cannot download (For "
                          "absolute URLs, path must be empty or begin with '/'; only http and "
                          "https URLs); nothing was saved")
    else:
        assert reason == (f"{cdn.url}{IMAGE} redirects to {target}, which seedflow does not "
                          "download (only http and https URLs); nothing was saved")
    assert cdn.count(IMAGE) == 1
    assert_still_submitted(project, address)


# --- 5. addresses beyond the provider's zone ---------------------------------------------------

def test_a_lock_url_on_loopback_is_refused_when_the_provider_is_remote(
        sim: Simulator, env: Env, project: Project, seedflow: Run, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pull request edits a lock URL (and keeps its sha256) to point at a service on the CI
    runner; the provider is a remote one, so its images are never on loopback."""
    env(sim)
    address = one(project)
    assert apply(seedflow, project).code == 0
    (victim,) = project.images()
    served = victim.read_bytes()
    victim.unlink()
    (image,) = project.entries()[address].images
    locked = project.lock.read_text(encoding="utf-8")

    with Hostile() as internal:
        internal.routes["/admin/export.png"] = send(200, served)   # would even pass the sha256
        project.lock.write_text(locked.replace(image.url, internal.url + "/admin/export.png"),
                                encoding="utf-8")
        monkeypatch.setenv("SEEDFLOW_APIKLEY_BASE_URL", "https://api.apikley.example")
        confined = confine_to_loopback(monkeypatch, {"api.apikley.example": ["93.184.215.14"]})
        with unchanged_outside(tmp_path, project.root, tmp_path / "cache"):
            result = apply(seedflow, project)

    assert failure(result, address) == (
        "refusing to connect to 127.0.0.1, a loopback address: apikley's result URLs may point "
        "only at public addresses, or at the zone of its API (api.apikley.example), and "
        "api.apikley.example is not on a loopback address. A lock URL edited by hand, or a "
        "redirect by the image host? (docs/security.md, \"Hostile providers and network\")")
    assert internal.hits == []   # refused before connecting
    assert (confined.connects, confined.lookups) == ([], [])
    assert not victim.exists() and project.parts() == []
    assert CANARY not in result.text


@pytest.mark.parametrize(("target", "shown"), [
    ("http://10.0.0.1/x.png", "10.0.0.1, a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local address"),
    ("http://[fd00::1]/x.png", "fd00::1, a private address"),
    ("http://[::ffff:192.168.1.1]/x.png", "::ffff:192.168.1.1, a private address"),
    ("http://0.0.0.0:9/x.png", "0.0.0.0, a non-public (reserved, shared, multicast or "
     "unspecified) address"),
    ("http://metadata.internal/x.png", "metadata.internal (169.254.169.254), a link-local "
     "address"),
    ("http://both.internal/x.png", "both.internal (10.1.2.3), a private address"),
])
def test_a_result_url_redirecting_beyond_the_providers_zone_is_refused(
        target: str, shown: str, env: Env, project: Project, seedflow: Run, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider is on loopback (so loopback is allowed), its image host redirects to a
    private, link-local or unspecified address: refused, at the hop that leads there."""
    confined = confine_to_loopback(monkeypatch, {"metadata.internal": ["169.254.169.254"],
                                                 "both.internal": ["127.0.0.1", "10.1.2.3"]})
    with Hostile() as cdn:
        cdn.provider(IMAGE)
        cdn.routes[IMAGE] = redirect(target)
        env(cdn)
        address = one(project)
        with unchanged_outside(tmp_path, project.root, tmp_path / "cache"):
            result = apply(seedflow, project)

    assert failure(result, address).startswith(f"refusing to connect to {shown}: apikley's "
                                               "result URLs may point only at public")
    assert cdn.count(IMAGE) == 1   # not retried
    assert confined.connects == []
    assert_still_submitted(project, address)


def test_a_name_is_resolved_once_per_connection_and_every_address_is_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: a name that answers a permitted address to the check and an internal
    one a moment later still reaches the checked address; a name with any address outside
    the permitted zones is refused before connecting."""
    asked: list[str] = []

    def rebinding() -> list[str]:
        asked.append("rebind.test")
        return ["127.0.0.1"] if len(asked) == 1 else ["10.0.0.1"]

    confined = confine_to_loopback(monkeypatch, {"rebind.test": rebinding,
                                                 "mixed.test": ["127.0.0.1", "10.0.0.1"]})
    good = png()
    with Hostile() as cdn:
        cdn.routes["/x.png"] = send(200, good)
        port = cdn.url.rpartition(":")[2]

        async def fetch(host: str) -> Downloaded:
            async with download_client(AddressGuard("sim", cdn.url)) as http:
                return await download(http, f"http://{host}:{port}/x.png", tmp_path / "x.png")

        got = asyncio.run(fetch("rebind.test"))
        with pytest.raises(DownloadRefused) as refused:
            asyncio.run(fetch("mixed.test"))

    assert got.size == len(good) and (tmp_path / "x.png").read_bytes() == good
    assert asked == ["rebind.test"]   # one lookup; the connection went to what it answered
    assert refused.value.message.startswith(
        "refusing to connect to mixed.test (10.0.0.1), a private address: sim's result URLs")
    assert cdn.hits == ["/x.png"] and confined.connects == []


# --- 6. a maximum task age ---------------------------------------------------------------------

def test_a_task_older_than_the_max_age_stays_submitted_and_the_next_apply_resumes_it(
        make_sim: Callable[..., Simulator], env: Env, project: Project, seedflow: Run,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim(latency=2.0)
    env(sim, SEEDFLOW_TASK_MAX_AGE="0.2")
    address = one(project)
    started = time.monotonic()
    first = apply(seedflow, project)
    took = time.monotonic() - started

    assert first.code == 1, first.text
    assert "0 done, 0 failed, 0 uncertain, 0 not started, 1 stopped; 1 tasks created" in first.out
    (row,) = [line for line in first.out.splitlines() if line.startswith(f"  {address}: ")]
    assert " is still generating after " in row
    assert row.endswith("s (SEEDFLOW_TASK_MAX_AGE is 0.2s); it stays recorded as submitted, "
                        "the next apply resumes it")
    assert took < 2.0   # long before the task finishes
    assert project.entries()[address].state == "submitted"

    monkeypatch.delenv("SEEDFLOW_TASK_MAX_AGE")
    second = apply(seedflow, project)

    assert second.code == 0, second.text
    assert events(second.err, "resume") == [address]
    assert sim.counters.creates == 1
    project.assert_intact([address])


# --- provider answers are read with a cap ------------------------------------------------------

@pytest.mark.parametrize("endpoint", [CREATE, RECORD])
def test_an_endless_provider_answer_is_cut_at_the_cap(endpoint: str, env: Env, project: Project,
                                                      tmp_path: Path) -> None:
    with Hostile() as api:
        api.provider(IMAGE)
        api.routes[IMAGE] = send(200, png())
        api.routes[endpoint] = endless(b'{"code": 200, "msg": "success", "data": {"pad": "')
        values = env(api, SEEDFLOW_RETRY_BASE="0.01")
        address = one(project)
        with unchanged_outside(tmp_path, project.root, tmp_path / "cache"):
            proc, peak_mb, took = run_measured(project.root, ["apply", "p.yaml", "--yes"],
                                               values)

    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "the answer is longer than 1,048,576 bytes, far more than any provider answer; " \
           "seedflow stopped reading it" in out
    state = project.entries()[address].state
    assert state == ("uncertain" if endpoint == CREATE else "submitted")
    assert peak_mb < 150, peak_mb   # ~55 MB; reading the 256 MiB body whole: over 500 MB
    assert took < 30
    assert CANARY not in out

