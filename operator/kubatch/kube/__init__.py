"""Talking to the Kubernetes API: one asynchronous client (client.py) for the operator, the
simulated kubelet and the autoscaling providers, and one error type (errors.py)."""
