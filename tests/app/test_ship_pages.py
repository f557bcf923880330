"""AppTest: references on every page, figure and table downloads offered, shared links restore the
embeddings and scaling views (query parameters seed the bound widgets and the computed view)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from dln_core.references import PAGE_REFERENCES, page_references

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
PAGES = {"home": "pages/home.py", "explorer": "pages/explorer.py", "embeddings": "pages/embeddings.py",
         "scaling": "pages/scaling.py", "generalisation": "pages/generalisation.py", "runs": "pages/runs.py"}


def open_page(path: str, query: dict | None = None, timeout: float = 120) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(path).run()
    assert not at.exception
    return at


def labels(at: AppTest, kind: str = "download_button") -> list[str]:
    return [b.proto.label for b in at.get(kind)]


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_ends_with_the_papers_behind_it(name, home, monkeypatch):
    monkeypatch.setenv("DLN_LAB_EMBED_TEST", "1")
    at = open_page(PAGES[name])
    block = next(c.value for c in at.caption if c.value.startswith("**References**"))
    for paper in page_references(name):
        assert f"]({paper.url})" in block and paper.cite in block
    assert "CITATION.cff" in block


def test_every_page_has_references_and_every_paper_is_used():
    assert set(PAGE_REFERENCES) == set(PAGES)
    from dln_core.references import PAPERS

    used = {key for keys in PAGE_REFERENCES.values() for key in keys}
    assert used == set(PAPERS)
    assert all(p.url.startswith("https://arxiv.org/abs/") for p in PAPERS.values())


def test_citation_cff_is_valid_and_cites_the_core_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors", "version", "license"} <= set(cff)
    assert cff["version"] == __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert any("1312.6120" in ref["url"] for ref in cff["references"])


def test_explorer_offers_svg_and_pdf_of_each_2d_chart(home):
    from dln_core.charts.export import EXPLORER_FIGURES

    at = open_page(PAGES["explorer"])
    assert labels(at).count("SVG") == len(EXPLORER_FIGURES) and labels(at).count("PDF") == len(EXPLORER_FIGURES)


def test_scaling_offers_figure_downloads_and_a_link_restores_the_study(home):
    at = open_page(PAGES["scaling"])
    assert {"SVG", "PDF"} <= set(labels(at))
    at = open_page(PAGES["scaling"], {"study": "Learning order", "lo_depth": "3", "lo_sv": "3,1",
                                      "lo_scheme": "near-identity"})
    assert at.get("button_group")[0].value == "Learning order"
    assert at.number_input(key="lo_depth").value == 3
    # the study was computed with the link's values, not the defaults
    params = at.session_state["scaling_params_learning_order"]
    assert (params["depth"], params["singular_values"], params["init_scheme"]) == (3, "3,1", "near-identity")
    assert list(at.dataframe[0].value["lambda"]) == [3.0, 1.0]


def test_a_bad_value_in_a_scaling_link_is_an_error_not_a_crash(home):
    at = open_page(PAGES["scaling"], {"pl_depths": "2,x"})
    assert any("depths L" in e.value for e in at.error)
    assert at.get("vega_lite_chart")  # the defaults are drawn instead


def test_embeddings_link_restores_the_model(home, monkeypatch):
    monkeypatch.setenv("DLN_LAB_EMBED_TEST", "1")
    at = open_page(PAGES["embeddings"], {"emb_corpus": "nogpl", "emb_vocab": "500", "emb_dim": "6",
                                         "emb_steps": "30", "emb_seed": "2"})
    assert at.radio(key="emb_corpus").value == "nogpl"
    assert (at.number_input(key="emb_vocab").value, at.number_input(key="emb_steps").value) == (500, 30)
    info = next(c.value for c in at.caption if "in-vocabulary analogy questions" in c.value)
    assert "corpus: nogpl" in info and "30 steps" in info


def test_runs_page_offers_tidy_and_parquet_tables_of_saved_runs(home):
    from dln_core.config import RunConfig
    from dln_core.engine import run
    from dln_core.store import RunStore

    RunStore().save(run(RunConfig.make(depth=2, init_scale=0.1, lr=0.02, steps=200)), name="a")
    at = open_page(PAGES["runs"])
    at.session_state["runs_table_0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert {"History (wide csv)", "Runs table (csv)", "SVG", "PDF"} <= set(labels(at))
    at.get("button_group")[0].set_value("parquet")
    at.get("button_group")[1].set_value("long").run()
    assert {"History (long parquet)", "Runs table (parquet)"} <= set(labels(at))
