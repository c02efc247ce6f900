"""What the engine asks of the world until it sees it done: effects and their outcomes
(effects.py), the pods wanted and stopped (intents.py), the statuses to write (statuses.py) and
the merge patches that carry them (patches.py)."""
