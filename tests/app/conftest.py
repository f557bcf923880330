"""Fixtures shared by the AppTest page tests."""

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty DLN Lab home (run store, caches) for this test only."""
    monkeypatch.setenv("DLN_LAB_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def downloads(monkeypatch):
    """file name -> data of every st.download_button rendered (AppTest keeps no public handle, so the
    media file manager's add() is wrapped; a Streamlit upgrade that renames it fails loudly here)."""
    captured: dict[str, object] = {}
    original = MediaFileManager.add

    def add(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        captured[file_name] = data
        return original(self, data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", add)
    return captured
