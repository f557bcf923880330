"""The container image's recipe, tested without docker (no daemon on CI): the Dockerfile's settings are
the hosted ones, and its entry command, run from a folder holding exactly what the image copies, with
the image's environment, serves the app and passes the image's own HEALTHCHECK command."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from dln_core.limits import HOSTED

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def dockerfile() -> dict:
    """ENV, COPY sources, RUN lines, USER, HEALTHCHECK and CMD of the Dockerfile (continuations joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out: dict = {"env": {}, "copy": [], "run": [], "user": None, "from": None}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op == "ENV":
            out["env"].update(dict(re.findall(r"(\w+)=(\S+)", rest)))
        elif op == "COPY":
            out["copy"].extend(rest.split()[:-1])
        elif op in ("RUN", "USER", "FROM"):
            out[op.lower()] = [*out[op.lower()], rest] if op == "RUN" else rest
        elif op == "HEALTHCHECK":
            out["healthcheck"] = json.loads(rest[rest.index("CMD") + 3:])
        elif op == "CMD":
            out["cmd"] = json.loads(rest)
    return out


def test_the_dockerfile_is_the_hosted_recipe():
    d = dockerfile()
    assert re.fullmatch(r"python:3\.1[1-9]-slim", d["from"])
    assert d["env"]["DLN_LAB_PROFILE"] == "hosted"
    assert d["user"] and d["user"] not in ("root", "0")
    torch_installs = [r for r in d["run"] if "torch" in r]
    assert torch_installs and all("torch==2.13.0" in r for r in torch_installs)
    assert "/_stcore/health" in " ".join(d["healthcheck"])
    # the server's upload limit is the hosted cap, in the image and in the repository's config
    assert float(d["env"]["STREAMLIT_SERVER_MAX_UPLOAD_SIZE"]) == HOSTED.max_upload_mb
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert float(config["server"]["maxUploadSize"]) == HOSTED.max_upload_mb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_entry_command_serves_the_app_and_passes_the_healthcheck(tmp_path):
    d = dockerfile()
    image = tmp_path / "app"  # what the image's COPY lines put in /app (requirements and wheels aside)
    image.mkdir()
    for src in d["copy"]:
        if src in ("requirements.txt", "wheels*"):
            continue
        p = ROOT / src
        if p.is_dir():
            shutil.copytree(p, image / p.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(p, image / p.name)
    port = _free_port()
    env = {**os.environ, **d["env"], "DLN_LAB_HOME": str(tmp_path / "home"), "STREAMLIT_SERVER_PORT": str(port),
           "STREAMLIT_SERVER_ADDRESS": "127.0.0.1"}
    cmd = [sys.executable if d["cmd"][0] == "python" else d["cmd"][0], *d["cmd"][1:]]
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=image, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        health = [sys.executable if d["healthcheck"][0] == "python" else d["healthcheck"][0], *d["healthcheck"][1:]]
        deadline = time.time() + 90
        while subprocess.run(health, env=env, capture_output=True).returncode != 0:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.time() < deadline, "the healthcheck never passed"
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as r:
            assert r.read().decode().strip() == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
