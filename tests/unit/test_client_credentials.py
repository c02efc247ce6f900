"""The operator's own client reads a kubeconfig's credentials, whichever kind it holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubatch.kube.client import Credentials
from kubatch.sim.certificates import make_certificates
from kubatch.sim.controlplane import kubeconfig


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    make_certificates(folder)
    return folder


def test_a_service_account_token_is_sent_as_a_bearer_token(pki: Path, tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "k", "https://127.0.0.1:6443", pki / "ca.crt", token="abc.def")
    credentials = Credentials.from_kubeconfig(str(path))
    assert credentials.token == "abc.def"
    assert credentials.headers() == {"Authorization": "Bearer abc.def"}


def test_a_client_certificate_is_used_for_tls(pki: Path, tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path / "k",
        "https://127.0.0.1:6443",
        pki / "ca.crt",
        certificate=pki / "admin.crt",
        key=pki / "admin.key",
    )
    credentials = Credentials.from_kubeconfig(str(path))
    assert credentials.token is None
    assert credentials.certificate_path
    assert credentials.private_key_path
    assert credentials.ssl_context() is not False
