"""``dln-lab app``: start the dashboard, which runs from a checkout of the repository.

The installed package holds the library and the command line only; the Streamlit pages (``app.py``,
``pages/``) live in the repository. ``app`` finds the checkout (``--checkout DIR``, else the folder
that holds this ``dln_core`` when it is a checkout or an editable install, else the current folder)
and runs ``python -m streamlit run app.py`` there (``--port``, ``--address``, ``--headless``; any other
streamlit option after ``--``, e.g. ``dln-lab app -- --theme.base=dark``). Without a checkout it exits with code 2 and one line saying how to get one.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

from ..errors import ConfigError

HELP = "start the dashboard (runs from a checkout of the repository)"
DESCRIPTION = __doc__.split("\n\n")[0]
NO_CHECKOUT = ("a checkout of the repository (app.py and pages/; the installed package has the library and "
               "command line only): clone it, pip install -r requirements.txt, then run dln-lab app inside it")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkout", metavar="DIR", help="the repository folder (default: found automatically)")
    p.add_argument("--port", type=int, help="server port (streamlit's --server.port)")
    p.add_argument("--address", help="server address (streamlit's --server.address)")
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    p.add_argument("streamlit_args", nargs="*", metavar="-- STREAMLIT_OPTION",
                   help="further options for streamlit run, after --")


def is_checkout(folder: Path) -> bool:
    return (folder / "app.py").is_file() and (folder / "pages").is_dir() and (folder / "dln_core").is_dir()


def find_checkout(explicit: str | None) -> Path:
    """The checkout to run the dashboard from (module docstring); ConfigError if there is none."""
    if explicit is not None:
        folder = Path(explicit).resolve()
        if not is_checkout(folder):
            raise ConfigError("--checkout", f"must be {NO_CHECKOUT}", explicit)
        return folder
    for folder in (Path(__file__).resolve().parents[2], Path.cwd()):
        if is_checkout(folder):
            return folder
    raise ConfigError("app", f"the dashboard runs from {NO_CHECKOUT}", str(Path.cwd()))


def run(args: argparse.Namespace) -> int:
    folder = find_checkout(args.checkout)
    if importlib.util.find_spec("streamlit") is None:
        raise ConfigError("app", "needs streamlit: pip install -r requirements.txt", "streamlit not installed")
    options = [f"--server.port={args.port}"] * (args.port is not None) + \
        [f"--server.address={args.address}"] * (args.address is not None) + ["--server.headless=true"] * args.headless
    return subprocess.call([sys.executable, "-m", "streamlit", "run", "app.py", *options, *args.streamlit_args],
                           cwd=folder)
