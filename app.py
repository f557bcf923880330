"""DLN Lab entrypoint: page config and navigation only (and the server object that warms it up)."""

from pathlib import Path

import streamlit as st

if __name__ != "__main__":
    # `streamlit run app.py` imports this file once, finds `app` and serves through it; its lifespan
    # warms the default explorer view at server start (pages/_startup.py). Script runs skip this.
    from pages._startup import lifespan

    app = st.App(__file__, lifespan=lifespan)
else:
    from dln_core.warmup import warm_imports

    warm_imports()  # once per server process: heavy modules load while the first page draws

    # a local favicon file: a material-icon favicon is fetched from an external font host (fails offline)
    FAVICON = Path(__file__).with_name("static") / "favicon.png"
    st.set_page_config(page_title="DLN Lab", page_icon=str(FAVICON), layout="wide")
    st.session_state["dln_entrypoint_ran"] = True  # see pages/_shared.ensure_entrypoint
    st.html(Path(__file__).with_name("pages") / "style.css")  # small screens: nothing scrolls the page sideways

    pages = {
        "DLN Lab": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)],
        "Explore": [
            st.Page("pages/explorer.py", title="DLN explorer", icon=":material/ssid_chart:", url_path="explorer"),
            st.Page("pages/embeddings.py", title="Word embeddings", icon=":material/scatter_plot:",
                    url_path="embeddings"),
        ],
        "Theory": [
            st.Page("pages/scaling.py", title="Theory & scaling", icon=":material/functions:", url_path="scaling"),
            st.Page("pages/generalisation.py", title="Generalisation", icon=":material/model_training:",
                    url_path="generalisation"),
        ],
        "Runs": [st.Page("pages/runs.py", title="Runs", icon=":material/table_chart:", url_path="runs")],
    }

    st.navigation(pages).run()
