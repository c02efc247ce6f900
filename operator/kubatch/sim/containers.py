"""What a simulated container does: how it ends and what it prints.

There is no container runtime: a simulated container "runs" the time its job's annotations
ask for, ends with the exit code they ask for, and prints its command and the AWS Batch
variables it was given. The simulated kubelet runs containers with this; the API server
emulator serves the same log for pods (on a real cluster the kubelet serves it).

Instructions, as annotations of a BatchJob (copied to its pods):
  sim.kubatch.io/start-delay       seconds before the container starts (default 0)
  sim.kubatch.io/duration          seconds a container runs (default 0)
  sim.kubatch.io/exit-code         exit code of every attempt (default 0)
  sim.kubatch.io/exit-codes-by-index   "3=1,5=2": exit codes of some array children (or nodes
                                       of a multi-node job)
  sim.kubatch.io/durations-by-index    "0=5": seconds some children (or nodes) run instead
  sim.kubatch.io/fail-attempts     "2": the first 2 attempts exit with exit-code (or 1)
  sim.kubatch.io/reason            a termination reason, e.g. OOMKilled (exit code 137)
  sim.kubatch.io/image-pull-error  a message: the image cannot be pulled
  sim.kubatch.io/start-error       a message: the command cannot be run (StartError, exit 128)
  sim.kubatch.io/sigterm-exit-code "0": the container traps SIGTERM and exits with this code;
                                   without it, PID 1 ignores SIGTERM (as a shell or sleep with
                                   no handler does) and SIGKILL ends it after the grace period
                                   (137)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..keys import LABEL_ARRAY_INDEX, LABEL_ATTEMPT, LABEL_NODE_INDEX, SIM_PREFIX

Obj = dict[str, Any]
"""An object as the API serves it (the simulation's own spelling: it imports no Kubatch
model)."""
PREFIX = SIM_PREFIX


def _parse_pairs(text: str) -> dict[int, int]:
    pairs: dict[int, int] = {}
    for part in text.split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            pairs[int(key.strip())] = int(value.strip())
    return pairs


def _index(labels: dict[str, str]) -> str | None:
    """An array child's index or a multi-node job's node index."""
    return labels.get(LABEL_ARRAY_INDEX, labels.get(LABEL_NODE_INDEX))


def duration(annotations: dict[str, str], labels: dict[str, str], default: float) -> float:
    """How long the container runs, in seconds."""
    index = _index(labels)
    by_index = _parse_pairs(annotations.get(PREFIX + "durations-by-index", ""))
    if index is not None and int(index) in by_index:
        return float(by_index[int(index)])
    return float(annotations.get(PREFIX + "duration", default))


def outcome(annotations: dict[str, str], labels: dict[str, str]) -> tuple[int, str]:
    """The exit code and termination reason the annotations ask for."""
    index = _index(labels)
    attempt = int(labels.get(LABEL_ATTEMPT, "1"))
    code = int(annotations.get(PREFIX + "exit-code", "0"))
    by_index = _parse_pairs(annotations.get(PREFIX + "exit-codes-by-index", ""))
    if index is not None and int(index) in by_index:
        code = by_index[int(index)]
    failing = annotations.get(PREFIX + "fail-attempts")
    if failing is not None:
        code = (code or 1) if attempt <= int(failing) else 0
    reason = annotations.get(PREFIX + "reason") or ("Completed" if code == 0 else "Error")
    if reason == "OOMKilled" and code in (0, 1):
        code = 137
    return code, reason


def sigterm_exit_code(annotations: dict[str, str]) -> int | None:
    """The exit code of a container that traps SIGTERM; None when PID 1 ignores it."""
    value = annotations.get(PREFIX + "sigterm-exit-code")
    return int(value) if value is not None and value.strip().lstrip("-").isdigit() else None


def started(pod: Obj) -> bool:
    """Whether the pod's container has started (it runs, or ran: its log exists)."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        state = container.get("state") or {}
        if "running" in state or "terminated" in state:
            return True
    return False


class LogRequestError(ValueError):
    """A log request a kubelet refuses (400), with the API server's words."""


def _named(pod: Obj, name: str | None) -> Obj:
    """The container a log request names; a pod of several containers must be told which."""
    containers = pod.get("spec", {}).get("containers") or [{}]
    pod_name = pod["metadata"]["name"]
    if name is None:
        if len(containers) > 1:
            names = " ".join(str(c.get("name")) for c in containers)
            raise LogRequestError(
                f"a container name must be specified for pod {pod_name}, choose one of: [{names}]"
            )
        return dict(containers[0])
    for container in containers:
        if container.get("name") == name:
            return dict(container)
    raise LogRequestError(f"container {name} is not valid for pod {pod_name}")


def container_log(pod: Obj, name: str | None = None) -> str:
    """What a simulated container printed: its command and the AWS Batch variables it saw."""
    container = _named(pod, name)
    if not started(pod):
        return ""
    env = {e["name"]: e.get("value", "") for e in container.get("env", []) if "value" in e}
    command = container.get("args") or container.get("command") or ["(the image's default command)"]
    lines = [f"$ {' '.join(command)}"]
    lines += [f"{k}={v}" for k, v in sorted(env.items()) if k.startswith("AWS_BATCH_")]
    return "\n".join(lines) + "\n"


def served_log(pod: Obj, query: Mapping[str, str]) -> str:
    """A pod's log as the kubelet serves it: `timestamps=true` puts the runtime's time (RFC
    3339, nanoseconds) before each line, `tailLines=N` keeps the last N lines, `limitBytes=N`
    the first N bytes of what is left; `container=NAME` says which container (a pod of several
    must say, or LogRequestError)."""
    lines = container_log(pod, query.get("container")).splitlines()
    tail = query.get("tailLines", "")
    if tail.isdigit():
        lines = lines[-int(tail) :] if int(tail) else []
    if query.get("timestamps") == "true":
        stamp = _start_time(pod).replace("Z", ".000000000Z")
        lines = [f"{stamp} {line}" for line in lines]
    text = "".join(f"{line}\n" for line in lines)
    limit = query.get("limitBytes", "")
    if limit.isdigit():
        text = text.encode()[: int(limit)].decode(errors="ignore")
    return text


def _start_time(pod: Obj) -> str:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        state = container.get("state") or {}
        for kind in ("running", "terminated"):
            if (state.get(kind) or {}).get("startedAt"):
                return str(state[kind]["startedAt"])
    return str((pod.get("status") or {}).get("startTime") or "1970-01-01T00:00:00Z")
