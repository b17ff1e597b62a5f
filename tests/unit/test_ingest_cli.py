"""The thin `ingest` CLI: config errors are one line and exit 2; `site build` reports the site."""

from __future__ import annotations

from typer.testing import CliRunner

from ingest.cli import app
from common.score_site import build_site
from tests.support.ingest_rows import SITE_LIMIT

runner = CliRunner()


def test_unknown_source_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["run", "--source", "nope", "--set", f"lake.uri={tmp_path}/lake"])
    assert result.exit_code == 2
    assert result.output.strip() == "ingest.sources: no source named 'nope' (known: none configured)"


def test_bad_override_is_one_line_and_exit_2():
    result = runner.invoke(app, ["run", "--set", "ingest.workers=zero"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "ingest.workers" in result.output


def test_site_build_reports_the_cached_site(data_root):
    site_dir = data_root / "ingest-site"
    manifest = build_site(site_dir, SITE_LIMIT)
    result = runner.invoke(app, ["site", "build", "--limit", str(SITE_LIMIT), "--set", f"demo.site_dir={site_dir}"])
    assert result.exit_code == 0, result.output
    with_lyrics = sum(p["has_lyrics"] for p in manifest["pieces"])
    assert f"{len(manifest['pieces'])} pieces ({with_lyrics} with lyrics), 3 fault links" in result.output


def test_no_source_says_where_one_goes_with_an_example_that_loads(tmp_path):
    import yaml

    from common.config import load_config

    result = runner.invoke(app, ["run", "--set", f"lake.uri={tmp_path}/lake"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0] == "config error: ingest.sources: no crawl source configured"
    assert "--config FILE" in result.output and "Ingest for data engineers" in result.output
    assert all(len(line) <= 100 for line in lines)
    example = "\n".join(line[2:] for line in lines if line.startswith("  "))
    f = tmp_path / "sources.yaml"
    f.write_text(example)
    cfg = load_config(f, environ={})  # the printed example is a config that loads
    assert [s.name for s in cfg.ingest.sources] == ["my-scores"]
    assert cfg.source("my-scores").seeds == ["https://scores.example.org/index.html"]
    assert yaml.safe_load(example)["ingest"]["sources"][0]["license"] == "CC-BY-4.0"
    assert not (tmp_path / "lake").exists()  # nothing started
