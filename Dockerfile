# One image for the worker, the starter CLI and the simulator (docker-compose.yml picks the command).
FROM python:3.11-slim
WORKDIR /app
RUN pip install --no-cache-dir uv
COPY pyproject.toml README.md ./
RUN uv pip install --system --no-cache -r pyproject.toml localstripe
COPY reelmirror ./reelmirror
COPY activities ./activities
COPY workflows ./workflows
COPY control ./control
COPY simulator ./simulator
COPY devstack ./devstack
COPY examples ./examples
COPY worker.py starter.py ./
RUN useradd --create-home bot && mkdir -p /secrets && chown bot /secrets && chmod 700 /secrets
USER bot
ENV REELMIRROR_SECRETS_DIR=/secrets PYTHONUNBUFFERED=1
CMD ["python", "worker.py"]
