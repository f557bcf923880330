"""Suite-wide setup: never write into the user's real DLN Lab home during tests.

One temporary home per test session (shared, so the corpus-statistics cache is built once); tests
that need an isolated store set ``DLN_LAB_HOME`` themselves with ``monkeypatch``.
"""

import os
import tempfile

if not os.environ.get("DLN_LAB_TEST_HOME_SET"):
    os.environ["DLN_LAB_HOME"] = tempfile.mkdtemp(prefix="dln_lab_tests_")
    os.environ["DLN_LAB_TEST_HOME_SET"] = "1"
