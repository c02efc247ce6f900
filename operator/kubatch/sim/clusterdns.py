"""A cluster DNS for a real node made here (what CoreDNS is to a cluster): the names of
Services and of the pods behind headless Services, from the API's Services and
EndpointSlices, answered over UDP on the node's address.

  <service>.<namespace>.svc.<domain>             the Service's cluster IP, or (headless) the
                                                  addresses of its endpoints
  <hostname>.<service>.<namespace>.svc.<domain>  the endpoint with that hostname (a pod with
                                                  spec.hostname and spec.subdomain)

A multi-node job's nodes reach its main node by such a name. Every other name is answered
NXDOMAIN at once: nothing is forwarded off the machine. dnslib (a well-kept DNS library)
parses and writes the packets and runs the UDP server.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

log = logging.getLogger("kubatch.sim.clusterdns")
DOMAIN = "cluster.local"
TTL = 5
REFRESH_SECONDS = 0.5


class Records(BaseResolver):  # type: ignore[misc]
    """Names to IPv4 addresses, replaced whole at each refresh."""

    def __init__(self, domain: str = DOMAIN) -> None:
        self.domain = domain
        self.names: dict[str, list[str]] = {}

    def update(self, services: list[Any], slices: list[Any]) -> None:
        """From Services and EndpointSlices as the kubernetes client reads them."""
        names: dict[str, list[str]] = defaultdict(list)
        cluster_ips = {}
        for service in services:
            key = (service.metadata.namespace, service.metadata.name)
            ip = service.spec.cluster_ip
            cluster_ips[key] = ip if ip and ip != "None" else None
        for endpoint_slice in slices:
            labels = endpoint_slice.metadata.labels or {}
            service = labels.get("kubernetes.io/service-name")
            namespace = endpoint_slice.metadata.namespace
            if not service or (namespace, service) not in cluster_ips:
                continue
            base = f"{service}.{namespace}.svc.{self.domain}"
            for endpoint in endpoint_slice.endpoints or []:
                addresses = list(endpoint.addresses or [])
                if endpoint.hostname:
                    names[f"{endpoint.hostname}.{base}"] += addresses
                if cluster_ips[(namespace, service)] is None:
                    names[base] += addresses
        for (namespace, service), ip in cluster_ips.items():
            if ip is not None:
                names[f"{service}.{namespace}.svc.{self.domain}"] = [ip]
        self.names = dict(names)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        addresses = self.names.get(name)
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype in (QTYPE.A, QTYPE.ANY):
            for address in addresses:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=TTL))
        return reply


class ClusterDns:
    """The DNS server and the thread that keeps its records, until `stop()`."""

    def __init__(self, api: Any, address: str, port: int = 53, domain: str = DOMAIN) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)
        self.records = Records(domain)
        self.server = DNSServer(self.records, address=address, port=port)
        self.stopping = threading.Event()
        self.refresher = threading.Thread(target=self._refresh, daemon=True, name="cluster-dns")

    def start(self) -> None:
        self._update()
        self.server.start_thread()
        self.refresher.start()

    def _update(self) -> None:
        services = self.core.list_service_for_all_namespaces().items
        slices = self.discovery.list_endpoint_slice_for_all_namespaces().items
        self.records.update(services, slices)

    def _refresh(self) -> None:
        while not self.stopping.wait(REFRESH_SECONDS):
            try:
                self._update()
            except Exception as e:  # the API server may restart: keep the last records
                log.debug("cluster DNS refresh failed: %s", e)

    def stop(self) -> None:
        self.stopping.set()
        self.server.stop()
        self.refresher.join(timeout=5)
