"""The provider registry: every ProviderSpec has the hooks the rest of seedflow asks for, and
gallery, cost, render and runtime get provider knowledge from the spec alone (a third provider,
registered here by monkeypatching PROVIDERS, shows its prompt, aspect, price and unsent note, and
gets its client, without a change anywhere else)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from clirun import in_process

from seedflow.apply.runtime import check_keys, open_clients
from seedflow.errors import SeedflowError
from seedflow.gallery.build import build_page
from seedflow.pipeline import load
from seedflow.pipeline.model import PriceTable
from seedflow.plan.cost import price
from seedflow.plan.render import unsent_notes
from seedflow.project import load_project
from seedflow.providers import PROTOCOLS, PROVIDERS, ProviderSpec
from seedflow.providers.base import ProviderLimits, TaskState, TaskStatus
from seedflow.providers.errors import ProviderError
from seedflow.providers.native import ASPECTS, Problem

SPECS = sorted(PROVIDERS)


# ---- every registered spec ----------------------------------------------------------------

@pytest.mark.parametrize("name", SPECS)
def test_every_spec_says_what_it_cannot_send(name: str) -> None:
    spec = PROVIDERS[name]
    note = spec.unsent_note()
    if spec.mapping.sends_seed:
        assert note is None
    else:
        assert note is not None and note.startswith(f"{name} ")


@pytest.mark.parametrize("name", SPECS)
def test_every_spec_has_a_price_a_client_and_a_known_protocol(name: str) -> None:
    spec = PROVIDERS[name]
    assert spec.name == name
    assert spec.protocol in PROTOCOLS
    assert callable(spec.connect)
    assert spec.default_price is None or spec.default_price >= 0
    if spec.simulated:
        assert spec.default_price == 0.0  # rehearsing is free
    else:
        assert spec.key_env and spec.base_url_env and spec.default_base_url


def test_the_published_figures() -> None:
    assert {name: spec.default_price for name, spec in PROVIDERS.items()} == {
        "apikley": 5.0, "modellix": None, "sim": 0.0, "sim:modellix": 0.0}
    assert {name for name, spec in PROVIDERS.items() if spec.supports_callbacks} == {
        "apikley", "sim"}
    assert PROTOCOLS == ("apikley", "modellix")


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.parametrize("aspect", ASPECTS)
def test_a_built_body_reads_back_its_prompt_and_aspect(name: str, aspect: str) -> None:
    mapping = PROVIDERS[name].mapping
    body, problems = mapping.build("a cat on a mat", {"aspect": aspect}, {})
    assert problems == []
    assert mapping.prompt_of(body) == "a cat on a mat"
    width, height = mapping.aspect_of(body) or (1, 1)
    wanted = aspect.split(":")
    assert Fraction(width, height) == Fraction(int(wanted[0]), int(wanted[1]))


JUNK: list[Mapping[str, Any]] = [
    {}, {"input": "x"}, {"input": None}, {"input": {"prompt": 5, "image_size": 7}},
    {"prompt": ["x"], "size": 7}, {"size": "0x5"}, {"size": "wide"},
    {"input": {"image_size": "landscape_x_9"}},
]


@pytest.mark.parametrize("name", SPECS)
def test_reading_a_body_from_a_lockfile_never_fails(name: str) -> None:
    mapping = PROVIDERS[name].mapping
    for body in JUNK:
        assert mapping.prompt_of(body) is None, body
        assert mapping.aspect_of(body) is None, body


def test_the_pure_core_imports_no_client() -> None:
    code = ("import sys\n"
            "import seedflow.providers, seedflow.pipeline.load, seedflow.plan.combos\n"
            "import seedflow.plan.cost, seedflow.plan.diff\n"
            "print(sorted(m for m in sys.modules\n"
            "             if m == 'httpx' or m.startswith('seedflow.apply')\n"
            "             or m.startswith('seedflow.sim') or m.endswith('.client')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout == "[]\n"


# ---- the client factory --------------------------------------------------------------------

def first_request(spec: ProviderSpec, callback_url: str | None) -> tuple[str, httpx.Request]:
    """The client's name and the create request it sends (answered 503, so nothing more)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    async def submit() -> str:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        client = spec.connect(http, name=spec.name, base_url="https://provider.example/",
                              api_key="key-123", limits=None, callback_url=callback_url)
        body, _ = spec.mapping.build("a cat", {}, {})
        try:
            with pytest.raises(ProviderError):
                await client.submit(body)
        finally:
            await client.aclose()
        return client.name

    name = asyncio.run(submit())
    return name, seen[0]


@pytest.mark.parametrize("name", SPECS)
def test_connect_builds_the_providers_client(name: str) -> None:
    client_name, request = first_request(PROVIDERS[name], None)
    assert client_name == name
    assert request.method == "POST" and request.url.host == "provider.example"
    assert "key-123" in request.headers.get("authorization", "")
    assert b"a cat" in request.content and b"hooks.example" not in request.content


@pytest.mark.parametrize("name", [n for n in SPECS if PROVIDERS[n].supports_callbacks])
def test_a_spec_that_supports_callbacks_sends_the_callback_url(name: str) -> None:
    _, request = first_request(PROVIDERS[name], "https://hooks.example/seedflow")
    assert b"https://hooks.example/seedflow" in request.content


# ---- a third provider, registered in one place -----------------------------------------------

class FakeMapping:
    """A protocol as a new provider package would define it: ``{"text", "frame"}`` bodies."""

    protocol = "fake"
    model = "fake-diffusion-1"
    sends_seed = False

    def build(self, prompt: str, params: Mapping[str, Any],
              extras: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
        body: dict[str, Any] = {"text": prompt}
        if "aspect" in params:
            body["frame"] = params["aspect"].replace(":", "/")
        return body, []

    def prompt_of(self, body: Mapping[str, Any]) -> str | None:
        text = body.get("text")
        return text if isinstance(text, str) else None

    def aspect_of(self, body: Mapping[str, Any]) -> tuple[int, int] | None:
        width, _, height = str(body.get("frame", "")).partition("/")
        return (int(width), int(height)) if width.isdigit() and height.isdigit() else None

    def unsent_note(self, provider: str) -> str | None:
        return f"{provider} draws without seeds, so seeds are not sent"


class FakeClient:
    def __init__(self, **given: Any) -> None:
        self.given = given
        self.name = given["name"]
        self.limits = given["limits"] or ProviderLimits(None, 4, 1.0, 5.0)
        self.closed = False

    async def submit(self, request: dict[str, Any]) -> str:
        return "fake-1"

    async def fetch(self, task_id: str) -> TaskState:
        return TaskState(TaskStatus.PENDING)

    async def aclose(self) -> None:
        self.closed = True


def fake_connect(http: httpx.AsyncClient, *, name: str, base_url: str, api_key: str,
                 limits: ProviderLimits | None, callback_url: str | None) -> FakeClient:
    return FakeClient(http=http, name=name, base_url=base_url, api_key=api_key, limits=limits,
                      callback_url=callback_url)


FAKE = ProviderSpec("fake", FakeMapping(), fake_connect, supports_callbacks=True,
                    default_price=2.5, key_env="FAKE_API_KEY",
                    base_url_env="SEEDFLOW_FAKE_BASE_URL",
                    default_base_url="https://api.fake.example")

PIPELINE = """\
    version: 1
    provider: fake
    assets:
      cat:
        prompt: "a cat, take {{ seed }}"
        aspect: "16:9"
        matrix:
          seed: [1, 2]
        output: "cat/{{ seed }}.png"
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """FAKE registered, and a pipeline using it in the current directory (tmp_path)."""
    monkeypatch.setitem(PROVIDERS, "fake", FAKE)
    monkeypatch.delenv("SEEDFLOW_FAKE_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    load._validator.cache_clear()  # the pipeline schema lists provider names from PROVIDERS
    path = Path("p.yaml")
    path.write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
    yield path
    load._validator.cache_clear()


def test_plan_shows_a_new_providers_note_and_price(
        fake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = in_process(capsys)("plan", fake)
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines() == [
        "Pipeline p.yaml · lock p.lock (new)",
        "",
        "  + create   cat[seed=1]",
        "      cat/1.png",
        "  + create   cat[seed=2]",
        "      cat/2.png",
        "Note: asset `cat`: fake draws without seeds, so seeds are not sent; they still make 2 "
        "distinct combinations (images may differ only by chance).",
        "Plan: 2 to create (paid), 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "0 unchanged.",
        "Cost: 2 images, estimated 5 credits.",
    ]


def test_cost_and_render_ask_the_spec(fake: Path) -> None:
    project = load_project(fake)
    assert price(PriceTable(), "fake") == 2.5
    assert price(PriceTable(per_image={"fake": 1.0}), "fake") == 1.0
    assert unsent_notes(project.plan()) == [
        "asset `cat`: fake draws without seeds, so seeds are not sent; they still make 2 "
        "distinct combinations (images may differ only by chance)"]


def test_the_gallery_reads_prompts_and_aspects_through_the_spec(fake: Path) -> None:
    project = load_project(fake)
    page = build_page(project.pipeline, project.plan())
    assert [(t.prompt, t.aspect, t.provider) for t in page.tiles()] == [
        ("a cat, take 1", (16, 9), "fake"), ("a cat, take 2", (16, 9), "fake")]


def open_fake(env: Mapping[str, str]) -> tuple[FakeClient, bool]:
    """The client open_clients builds for ``fake``, and whether a callback receiver ran."""

    async def open_() -> tuple[FakeClient, bool]:
        async with open_clients(["fake"], env) as connections:
            client = connections.clients["fake"]
            assert isinstance(client, FakeClient)
            return client, connections.callbacks is not None

    return asyncio.run(open_())


def test_runtime_builds_a_new_providers_client_from_its_spec(fake: Path) -> None:
    client, receiving = open_fake({"FAKE_API_KEY": "key-9"})
    assert (client.given["name"], client.given["base_url"], client.given["api_key"],
            client.given["limits"], client.given["callback_url"]) == (
        "fake", "https://api.fake.example", "key-9", None, None)
    assert isinstance(client.given["http"], httpx.AsyncClient)
    assert client.closed and not receiving


def test_runtime_sends_callbacks_where_the_spec_supports_them(
        fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"FAKE_API_KEY": "key-9", "SEEDFLOW_CALLBACKS": "1",
           "SEEDFLOW_CALLBACK_URL": "https://hooks.example/seedflow"}
    client, receiving = open_fake(env)
    assert client.given["callback_url"] == "https://hooks.example/seedflow" and receiving
    monkeypatch.setitem(PROVIDERS, "fake", replace(FAKE, supports_callbacks=False))
    client, receiving = open_fake(env)
    assert client.given["callback_url"] is None and not receiving


def test_a_missing_key_names_the_specs_variable(fake: Path) -> None:
    with pytest.raises(SeedflowError) as caught:
        check_keys(["fake", "sim"], {})
    assert str(caught.value) == (
        "FAKE_API_KEY is not set. Export the API key in the environment (seedflow reads keys "
        "nowhere else), or rehearse on the embedded simulator with `provider: sim` / "
        "`provider: sim:modellix` in the pipeline")
