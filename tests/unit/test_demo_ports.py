"""A port the demo or the service needs, taken by another program: one line naming the setting, no traceback."""

import socket

import pytest

from tests.support.config import make_config


def test_a_taken_site_port_names_demo_site_port(tmp_path):
    from musiclake.demo import run_demo

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = make_config(tmp_path, "demo.corpus_limit=5", f"demo.site_port={port}")
        with pytest.raises(SystemExit) as info:
            run_demo(cfg)
    message = str(info.value)
    assert f"demo.site_port {port}" in message and "--set demo.site_port=" in message and "\n" not in message


def test_a_taken_serve_port_names_serve_port(tmp_path):
    from serving.app import PortInUse, _check_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as info:
            _check_port(make_config(tmp_path, f"serve.port={port}"))
    assert f"serve.port {port}" in str(info.value) and f"--set serve.port={port + 1}" in str(info.value)
