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
