"""`kubatch connect-cluster` refuses what it cannot hand over, naming what is wrong, before it
asks any cluster for anything (no server answers here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubatch.cli.main import cli


def _kubeconfig(tmp_path: Path, ca: str | None) -> Path:
    cluster: dict[str, str] = {"server": "https://127.0.0.1:1"}
    if ca is not None:
        cluster["certificate-authority"] = ca
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "here", "context": {"cluster": "c", "user": "u"}},
                    {"name": "east", "context": {"cluster": "c", "user": "u"}},
                ],
                "current-context": "here",
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("args", "ca", "code", "says"),
    [
        (["west"], None, 1, "the kubeconfig has no context 'west' (it has: east, here)"),
        (["west", "--context", "nope"], None, 1, "no context 'nope'"),
        (["east"], "/nowhere/ca.crt", 1, "context 'east': its CA /nowhere/ca.crt cannot be read"),
        (["east", "--service-account", "lonely"], None, 2, "expected NAMESPACE/NAME"),
        (["east", "--hours", "0"], None, 2, "0 is not in the range 1<=x<=8760"),
    ],
    ids=[
        "unknown_cluster_context",
        "unknown_context",
        "ca_file_missing",
        "bad_account",
        "no_hours",
    ],
)
def test_connect_cluster_refuses_what_it_cannot_hand_over(
    tmp_path: Path, args: list[str], ca: str | None, code: int, says: str
) -> None:
    kubeconfig = _kubeconfig(tmp_path, ca)
    result = CliRunner().invoke(cli, ["--kubeconfig", str(kubeconfig), "connect-cluster", *args])
    assert result.exit_code == code, result.output
    assert says in result.output
