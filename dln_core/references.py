"""The papers behind each page (shown in its references block) and the project's own citation.

One table of papers (:data:`PAPERS`, key -> short citation and link) and, per page, the keys of the
papers its theory comes from (:data:`PAGE_REFERENCES`; docs/THEORY.md names the same sources next to
the equations). Pure data, no streamlit: pages render it with ``pages._shared.references``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    cite: str  # "Authors (year). Title. Venue."
    url: str


PAPERS = {
    "saxe2014": Paper("Saxe, McClelland & Ganguli (2014). Exact solutions to the nonlinear dynamics of learning in "
                      "deep linear neural networks. ICLR.", "https://arxiv.org/abs/1312.6120"),
    "saxe2019": Paper("Saxe, McClelland & Ganguli (2019). A mathematical theory of semantic development in deep "
                      "neural networks. PNAS.", "https://arxiv.org/abs/1810.10531"),
    "arora2018": Paper("Arora, Cohen & Hazan (2018). On the optimization of deep networks: implicit acceleration by "
                       "overparameterization. ICML.", "https://arxiv.org/abs/1802.06509"),
    "du2018": Paper("Du, Hu & Lee (2018). Algorithmic regularization in learning deep homogeneous models: layers are "
                    "automatically balanced. NeurIPS.", "https://arxiv.org/abs/1806.00900"),
    "gidel2019": Paper("Gidel, Bach & Lacoste-Julien (2019). Implicit regularization of discrete gradient dynamics "
                       "in linear neural networks. NeurIPS.", "https://arxiv.org/abs/1904.13262"),
    "cohen2021": Paper("Cohen, Kaur, Li, Kolter & Talwalkar (2021). Gradient descent on neural networks typically "
                       "occurs at the edge of stability. ICLR.", "https://arxiv.org/abs/2103.00065"),
    "domine2025": Paper("Dominé, Anguita, Proca, Braun, Kunin, Mediano & Saxe (2025). From lazy to rich: exact "
                        "learning dynamics in deep linear networks. ICLR.", "https://arxiv.org/abs/2409.14623"),
    "advani2017": Paper("Advani & Saxe (2017). High-dimensional dynamics of generalization error in neural "
                        "networks.", "https://arxiv.org/abs/1710.03667"),
    "lampinen2019": Paper("Lampinen & Ganguli (2019). An analytic theory of generalization dynamics and transfer "
                          "learning in deep linear networks. ICLR.", "https://arxiv.org/abs/1809.10374"),
    "benaych2012": Paper("Benaych-Georges & Nadakuditi (2012). The singular values and vectors of low rank "
                         "perturbations of large rectangular random matrices. J. Multivariate Anal.",
                         "https://arxiv.org/abs/1103.2221"),
    "baik2005": Paper("Baik, Ben Arous & Péché (2005). Phase transition of the largest eigenvalue for nonnull complex "
                      "sample covariance matrices. Ann. Probab.", "https://arxiv.org/abs/math/0403022"),
    "karkada2025": Paper("Karkada, Simon, Bahri & DeWeese (2025). Solvable dynamics of self-supervised word "
                         "embeddings and the emergence of analogical reasoning.", "https://arxiv.org/abs/2502.09863"),
    "mikolov2013": Paper("Mikolov, Chen, Corrado & Dean (2013). Efficient estimation of word representations in "
                         "vector space (the analogy questions).", "https://arxiv.org/abs/1301.3781"),
}

PAGE_REFERENCES = {
    "home": ("saxe2014", "saxe2019", "domine2025", "karkada2025"),
    "explorer": ("saxe2014", "arora2018", "du2018", "domine2025", "gidel2019", "cohen2021"),
    "embeddings": ("karkada2025", "mikolov2013", "saxe2014"),
    "scaling": ("saxe2014", "gidel2019", "cohen2021", "domine2025", "advani2017", "lampinen2019"),
    "generalisation": ("advani2017", "lampinen2019", "benaych2012", "baik2005", "saxe2014"),
    "runs": ("saxe2014",),
}


def page_references(page: str) -> list[Paper]:
    """The papers of one page, in display order (KeyError for an unknown page)."""
    return [PAPERS[key] for key in PAGE_REFERENCES[page]]
