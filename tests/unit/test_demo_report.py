"""The demo's closing report prints the API key only on the run that made it (logs keep what is printed)."""

from common.config import load_config
from musiclake.demo import DemoResult, report


def test_the_key_is_printed_once_when_made_and_never_again(tmp_path):
    cfg = load_config(overrides=[f"serve.api_keys_file={tmp_path}/keys.json"], environ={})
    base = dict(endpoint="http://127.0.0.1:8000", api_key="mlk_secret123", api_keys_file=cfg.serve.api_keys_file)
    first = report(cfg, DemoResult(**base, key_made=True))
    later = report(cfg, DemoResult(**base, key_made=False))
    assert "mlk_secret123" in first and "#key=mlk_secret123" in first
    assert "mlk_secret123" not in later and f"in {cfg.serve.api_keys_file}" in later
