"""The embedded simulator (no SEEDFLOW_SIM_URL) starts afresh on a new port each apply; images
it made are still restored for free, byte for byte, as a real provider's CDN would serve them."""

from __future__ import annotations

import pytest
from applykit import Project, Run, events


@pytest.mark.parametrize("provider", ["sim", "sim:modellix"])
def test_deleted_image_is_restored_by_a_later_embedded_simulator(
        project: Project, seedflow: Run, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.delenv("SEEDFLOW_SIM_URL", raising=False)
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.05")
    monkeypatch.setenv("SEEDFLOW_POLL_INTERVAL", "0.05")
    addresses = project.write(provider=provider, things=("mug",), seeds=(1, 2), images=2)
    first = seedflow("apply", str(project.pipeline))
    assert first.code == 0, first.text
    urls = {i.url for e in project.entries().values() for i in e.images}
    victim = project.images()[0]
    victim.unlink()

    second = seedflow("apply", str(project.pipeline))

    assert second.code == 0, second.text
    assert "0 tasks created, 0 polls" in second.out
    assert len(events(second.err, "restored")) == 1
    project.assert_intact(addresses)
    # the lock still records the first run's URLs (the restore did not rewrite them)
    assert {i.url for e in project.entries().values() for i in e.images} == urls
