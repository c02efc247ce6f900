"""The operator process: kopf handlers, the scheduling loop, the writer."""
