"""What a test job's container does, said once for both nodes.

A `Program` is rendered twice from the same parameters: as a busybox shell script, which a
container on the real node runs, and as the simulated container's instructions
(`sim.kubatch.io/` annotations, kubatch.sim.containers), which the simulated kubelet follows.
The same test then asserts the same outcome on both nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubatch.sim.images import BUSYBOX_IMAGE

IMAGE = BUSYBOX_IMAGE
"""The jobs' image: built offline and imported on the real node (any name works on the
simulated one)."""
MISSING_IMAGE = "localhost/kubatch/no-such-image:1.0"
"""An image no node has and no registry serves (a real node's pulls go to a closed port)."""
SMALL = [{"type": "VCPU", "value": "50m"}, {"type": "MEMORY", "value": "64"}]
"""Requests small enough for many containers at once on a two-core real node."""


@dataclass(frozen=True)
class Program:
    prints: str = ""
    """A line the container prints (echo), before anything else."""
    seconds: float = 0
    """How long it runs before it exits."""
    exit_code: int = 0
    on_sigterm: int | None = None
    """Trap SIGTERM and exit with this code; None: PID 1 ignores SIGTERM (a shell with no
    trap, as most scripts are) and only SIGKILL ends it."""
    fail_attempts: int | None = None
    """The first N attempts exit with exit_code, later ones with 0 (AWS_BATCH_JOB_ATTEMPT)."""
    memory_mib: int | None = None
    """Hold this much memory (in the shell itself: PID 1 is what the OOM killer takes)."""
    prints_index: bool = False
    """Print AWS_BATCH_JOB_ARRAY_INDEX."""
    prints_attempt: bool = False
    """Print AWS_BATCH_JOB_ATTEMPT."""
    prints_limits: bool = False
    """Print the memory limit and CPU shares the kubelet gave the container (cgroups v1)."""
    pullable: bool = True
    """False: its image cannot be pulled."""
    runnable: bool = True
    """False: its command does not exist in the image (the container never starts)."""

    def script(self) -> str:
        lines: list[str] = []
        if self.on_sigterm is not None:
            lines.append(f"trap 'echo got SIGTERM; exit {self.on_sigterm}' TERM")
        if self.prints:
            lines.append(f"echo {self.prints}")
        if self.prints_index:
            lines.append('echo "index=$AWS_BATCH_JOB_ARRAY_INDEX"')
        if self.prints_attempt:
            lines.append('echo "attempt $AWS_BATCH_JOB_ATTEMPT"')
        if self.prints_limits:
            lines.append('echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"')
            lines.append('echo "shares=$(cat /sys/fs/cgroup/cpu/cpu.shares)"')
        if self.memory_mib is not None:
            lines.append(f"x=$(head -c {self.memory_mib}m /dev/zero | tr '\\0' a)")
        if self.seconds:
            # In the background and waited for, so that a trap runs as soon as the signal
            # comes (a shell runs traps only between commands).
            lines.append(f"sleep {self.seconds} & wait $!")
        if self.fail_attempts is not None:
            lines.append(
                f'[ "$AWS_BATCH_JOB_ATTEMPT" -le {self.fail_attempts} ] && exit {self.exit_code}'
            )
            lines.append("exit 0")
        else:
            lines.append(f"exit {self.exit_code}")
        return "\n".join(lines)

    def command(self) -> list[str]:
        if not self.runnable:
            return ["no-such-command"]
        return ["sh", "-c", self.script()]

    def sim(self) -> dict[str, str]:
        """The simulated container's instructions (annotations, without the prefix)."""
        found = {"duration": str(self.seconds), "exit-code": str(self.exit_code)}
        if self.on_sigterm is not None:
            found["sigterm-exit-code"] = str(self.on_sigterm)
        if self.fail_attempts is not None:
            found["fail-attempts"] = str(self.fail_attempts)
        if self.memory_mib is not None:
            found["reason"] = "OOMKilled"
        if not self.pullable:
            found["image-pull-error"] = (
                f'failed to pull and unpack image "{MISSING_IMAGE}": failed to resolve reference'
            )
        if not self.runnable:
            found["start-error"] = (
                'exec: "no-such-command": executable file not found in $PATH: unknown'
            )
        return found

    def container(self, **extra: Any) -> dict[str, Any]:
        """containerProperties for a definition running this program."""
        return {
            "image": IMAGE if self.pullable else MISSING_IMAGE,
            "command": self.command(),
            "resourceRequirements": SMALL,
            **extra,
        }
