# The Kubatch operator image (also runs the simulated kubelet, the console and the AWS API:
# python -m kubatch.sim.kubelet, kubatch console, kubatch api).
#
# BASE is any image with Python >= 3.11 and its venv module: the public python image by
# default; the project's tests build on a Debian base made offline (kubatch.sim.images).
# PIP_OPTIONS and PACKAGE choose what is installed: by default the project in the build
# context, from PyPI; offline, e.g. PIP_OPTIONS="--no-index --find-links=/src/wheels"
# PACKAGE=kubatch with the wheels in the context's wheels/ folder.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ARG PIP_OPTIONS=""
ARG PACKAGE=/src
COPY . /src
RUN python3 -m venv /opt/kubatch \
 && /opt/kubatch/bin/pip install --no-cache-dir --disable-pip-version-check ${PIP_OPTIONS} ${PACKAGE}

FROM ${BASE}
COPY --from=build /opt/kubatch /opt/kubatch
# A numbered, unprivileged user; the chart runs it with a read-only root filesystem.
RUN echo 'kubatch:x:10001:10001::/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'kubatch:x:10001:' >> /etc/group
USER 10001:10001
ENV PATH=/opt/kubatch/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8000 8080
ENTRYPOINT ["python", "-m", "kubatch.controller"]
CMD ["--liveness=http://0.0.0.0:8080/healthz"]
