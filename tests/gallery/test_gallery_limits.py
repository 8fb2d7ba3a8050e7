"""The gallery and images too large to thumbnail (docs/security.md, "Hostile providers and
network"): a tiny file can declare a huge image; it is skipped with a note, before decoding."""

from __future__ import annotations

from pathlib import Path

from hostile import blank_png, run_measured

PIPELINE = """version: 1
provider: sim
output_dir: out
assets:
  shots:
    prompt: "Photo of {{ product }}"
    matrix:
      product: [mug, lamp]
    output: "{{ product }}.png"
"""


def test_an_image_too_large_to_thumbnail_is_skipped_with_a_note(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    env = {"SEEDFLOW_SIM_LATENCY": "0.05", "SEEDFLOW_POLL_INTERVAL": "0.05", "NO_COLOR": "1",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    applied, _, _ = run_measured(project, ["apply", "p.yaml", "--yes"], env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    huge = blank_png(13000, 13000)   # 169 megapixels in ~20 KB
    assert len(huge) < 100_000
    (project / "out" / "mug.png").write_bytes(huge)

    built, peak_mb, took = run_measured(project, ["gallery", "p.yaml", "-o", "g"], env)

    assert built.returncode == 0, built.stdout + built.stderr
    assert built.stderr.splitlines()[-1].startswith("peak-rss-kb ")
    assert built.stderr.strip().count("\n") == 0, built.stderr   # no warning printed
    html = (project / "g" / "index.html").read_text(encoding="utf-8")
    assert html.count("too large to thumbnail (13000×13000 pixels; the limit is 50 "
                      "megapixels)") == 1
    assert len(list((project / "g" / "thumbs").iterdir())) == 1   # the lamp's
    assert peak_mb < 150, peak_mb   # thumbnailing it peaked at 868 MB
    assert took < 30
