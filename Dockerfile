# DLN Lab as a hosted demo: the dashboard on port 8501 with the hosted profile's caps and budget.
#   docker build -t dln-lab . && docker run --rm -p 8501:8501 dln-lab
# CPU only. torch is pinned (torch==2.13.0, the CPU build): PyPI's default torch wheel is the multi-GB
# CUDA build, so torch comes first, from PyTorch's CPU wheel index (TORCH_INDEX_URL), or, with no
# network, from a wheel you put in ./wheels/ (e.g. torch-2.13.0+cpu-cp311-...whl): the build then
# installs from there and does not go online for it.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DLN_LAB_PROFILE=hosted \
    DLN_LAB_HOME=/home/dln/.dln_lab \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_SERVER_MAX_UPLOAD_SIZE=5 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

WORKDIR /app
COPY requirements.txt wheels* /tmp/wheels/
RUN if ls /tmp/wheels/torch-2.13.0*.whl >/dev/null 2>&1; then \
        pip install --no-index --find-links /tmp/wheels torch==2.13.0; \
    else \
        pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0; \
    fi && rm -rf /tmp/wheels
COPY requirements.txt .
RUN pip install -r requirements.txt

# a non-root user owns only its home (the run store); the code stays read-only to it
RUN useradd --create-home --uid 10001 dln
COPY app.py LICENSE README.md ./
COPY .streamlit ./.streamlit
COPY pages ./pages
COPY static ./static
# dln_core carries its data (corpora, evaluation sets, licences) as package data
COPY dln_core ./dln_core
USER dln

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('STREAMLIT_SERVER_PORT', '8501') + '/_stcore/health', timeout=4)"]
CMD ["python", "-m", "streamlit", "run", "app.py"]
