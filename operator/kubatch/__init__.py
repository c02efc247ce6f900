"""Kubatch: AWS Batch's model on any Kubernetes cluster."""

__version__ = "0.1.0"
