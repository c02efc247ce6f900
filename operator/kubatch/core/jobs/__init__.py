"""One job's life, pure: its record and state machine (record.py), its attempts and what a pod
reports about them (attempts.py), retryStrategy (retry.py), dependsOn (dependencies.py), the
nodes of a multi-node job (multinode.py), definitions and their revisions (definitions.py),
its status written and read back (persistence.py), and its pods rendered (pods.py).

A new job state or a new AWS field of a job goes here. Nothing here knows the store, the
scheduler or the other jobs."""
