"""The pod garbage collector of kube-controller-manager, as far as a removed node goes: the
pods bound to a node that no longer exists are deleted after a quarantine of 40 s, as the real
one waits, in case the node comes back. One still running is first marked Failed with a
DisruptionTarget condition (reason DeletionByPodGC), as the real collector does, so whoever
watches it knows the cluster ended it; one already finished is deleted as it is. Scaling an
environment down therefore removes its nodes' finished pods (and their logs) 40 s later, on the
emulator as on a real cluster."""

from __future__ import annotations

import asyncio
import contextlib
import copy

from ..containers import Obj
from .errors import ApiError
from .resources import ResourceType, now_text
from .store import Store

QUARANTINE_SECONDS = 40.0
"""How long a removed node's pods wait: kube-controller-manager's quarantine."""


class PodGarbageCollector:
    def __init__(self, store: Store, quarantine: float = QUARANTINE_SECONDS) -> None:
        self.store = store
        self.quarantine = quarantine
        store.on_removed.append(self._on_removed)

    def _on_removed(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype.kind != "Node":
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a store used without a server: nothing runs in the background
        loop.call_later(self.quarantine, self.collect, obj["metadata"]["name"])

    def collect(self, node: str) -> None:
        """Delete the pods of `node` if it is still gone."""
        nodes = self.store.types[("", "v1", "nodes")]
        if ("", node) in self.store.objects.get(nodes.key, {}):
            return  # it came back
        pods = self.store.types[("", "v1", "pods")]
        for (namespace, name), pod in list(self.store.objects.get(pods.key, {}).items()):
            if (pod.get("spec") or {}).get("nodeName") != node:
                continue
            with contextlib.suppress(ApiError):
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    self.store.update(pods, namespace, name, _failed(pod), "status")
                self.store.delete(pods, namespace, name, 0)


def _failed(pod: Obj) -> Obj:
    marked = copy.deepcopy(pod)
    status = marked.setdefault("status", {})
    status["phase"] = "Failed"
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
    conditions.append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists",
            "lastTransitionTime": now_text(),
        }
    )
    status["conditions"] = conditions
    return marked
