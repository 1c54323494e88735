FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY ticker ticker
COPY actors actors
COPY scheduler scheduler
COPY sandbox sandbox
RUN pip install --no-cache-dir '.[sandbox]'
USER nobody
CMD ["python", "-m", "actors"]
