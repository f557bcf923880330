"""Server start: `streamlit run app.py` serves app.py's st.App, whose lifespan runs the explorer's
default view once in a session without a browser (pages/_startup.py) before any visitor arrives."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def test_a_fresh_server_warms_the_explorer_before_any_visitor():
    server = Server()
    try:
        log = Path(server.log.name)
        deadline = time.time() + 120
        while "DLN Lab: warm-up" not in log.read_text() and time.time() < deadline:
            time.sleep(0.2)
        text = log.read_text()
        assert "DLN Lab: warm-up of /explorer done in" in text, text[-2000:]
        assert "Traceback" not in text, text[-2000:]  # the browserless run raised nothing
    finally:
        server.stop()
