# One image for the worker, the codec server, the starter CLI and the simulator (the compose files pick the
# command). It runs as `bot`, uid 1000: secret files mounted into it must be readable by that uid.
FROM python:3.11-slim
WORKDIR /app
RUN pip install --no-cache-dir uv
COPY pyproject.toml README.md ./
RUN uv pip install --system --no-cache -r pyproject.toml localstripe
COPY reelmirror ./reelmirror
COPY activities ./activities
COPY workflows ./workflows
COPY control ./control
COPY codec ./codec
COPY observability ./observability
COPY simulator ./simulator
COPY devstack ./devstack
COPY examples ./examples
COPY worker.py starter.py ./
# /secrets is the file store's directory; a named volume mounted there inherits its owner and mode.
RUN useradd --uid 1000 --create-home bot && mkdir -p /secrets && chown bot /secrets && chmod 700 /secrets
USER bot
ENV REELMIRROR_SECRETS_DIR=/secrets PYTHONUNBUFFERED=1
CMD ["python", "worker.py"]
