"""What runs a user's function: the compiled drivers of the dual numbers
(:mod:`.drivers`), the Python fallback (:mod:`.fallback`), and the record of
values Numba freezes into compiled code (:mod:`.frozen`).  Imports the number
types below it, never the modes above it.
"""
