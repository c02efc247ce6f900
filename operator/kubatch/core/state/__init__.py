"""What the engine knows: the store of every object and pod with its indexes (store.py), and
reading each kind of API object into it (intake.py). A new kind, or a new field of a kind's
spec, is read here."""
