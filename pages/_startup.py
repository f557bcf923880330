"""Server start: import the heavy modules and run the explorer's default view once, before any visitor.

``app.py`` hands :func:`lifespan` to ``st.App``; ``streamlit run app.py`` finds that object and serves
the app through it. The warm-up runs the real explorer script in a session that has no browser, so
its imports, its default training run and its cached charts (st.cache_data is shared by all sessions)
are ready when the first visitor arrives. It runs in the background: the server answers at once, and a
visitor who comes during the warm-up waits on the same cache entries instead of computing them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from contextlib import asynccontextmanager

WARM_PAGE = "explorer"  # the page most first visits open (README links, shared URLs)
WARM_DONE_KEY = "explorer_last_good"  # pages/explorer.LAST_GOOD: set once the page has drawn a run
WARM_TIMEOUT_S = 120.0
_FINISHED = {0, 1}  # ScriptFinishedStatus: successfully, compile error (not "early for rerun")


class _NoBrowser:
    """A session client that drops every message except the end of a script run."""

    def __init__(self) -> None:
        self.done = asyncio.Event()

    def write_forward_msg(self, msg) -> None:
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished in _FINISHED:
            self.done.set()

    @property
    def client_context(self):
        return None


async def warm_default_page(runtime, page: str = WARM_PAGE, timeout: float = WARM_TIMEOUT_S) -> tuple[float, bool]:
    """Run ``page`` once with its default widgets in a session without a browser: (seconds taken,
    whether the page got as far as drawing a run)."""
    from streamlit.proto.ClientState_pb2 import ClientState

    t0 = time.perf_counter()
    client = _NoBrowser()
    session_id = runtime.connect_session(client=client, user_info={})
    try:
        session = runtime.get_app_session(session_id)
        session.request_rerun(ClientState(page_name=page))
        await asyncio.wait_for(client.done.wait(), timeout)
        drew = WARM_DONE_KEY in session.session_state
    finally:
        runtime.close_session(session_id)
    return time.perf_counter() - t0, drew


async def _warm() -> None:
    try:
        from streamlit.runtime import Runtime  # private API: a change only skips the warm-up

        seconds, drew = await warm_default_page(Runtime.instance())
        outcome = "done" if drew else "ended without a run"
        print(f"DLN Lab: warm-up of /{WARM_PAGE} {outcome} in {seconds:.1f} s", file=sys.stderr, flush=True)
    except Exception as exc:  # the page itself reports any real problem to its first visitor
        print(f"DLN Lab: warm-up skipped ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)


@asynccontextmanager
async def lifespan(app):
    """st.App lifespan: start the warm-up on the server's event loop and serve at once."""
    task = asyncio.get_running_loop().create_task(_warm())
    try:
        yield None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # it closes its session first
            await task
