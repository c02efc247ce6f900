# The Kubatch operator image (also runs the simulated kubelet: python -m kubatch.sim.kubelet).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
# A numbered, unprivileged user; the chart runs it with a read-only root filesystem.
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin kubatch
USER 10001:10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8000 8080
ENTRYPOINT ["python", "-m", "kubatch.controller"]
CMD ["--liveness=http://0.0.0.0:8080/healthz"]
