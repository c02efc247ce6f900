"""Scheduling, pure: a snapshot in, decisions out. The snapshot's and decisions' types
(snapshot.py), one pass (placement.py), the nodes each environment wants (capacity.py), the
instance catalog (catalog.py), fair share's rules (fairshare.py) and each queue's RUNNABLE work
kept in order between passes (runqueues.py).

A new placement rule or allocation strategy goes here. Nothing here knows job records."""
