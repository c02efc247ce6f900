"""The phases of a step, in the order the engine runs them: the platform objects (registry.py),
jobs (jobs.py), ScheduledJobs (cron.py), dispatch to the scheduler (dispatch.py, with fair
share's state in shares.py) and deletions held by finalizers (finalizers.py). A phase changes
what it owns through its owners' methods and returns effects. A new phase goes here, and into
the engine's order."""
