"""The command line: ``python -m dualdiff`` (the demo) and ``python -m dualdiff
check`` (:mod:`.check`), with the whitelisted expression parser of
:mod:`.expr` (never ``eval``).  The top of the stack: may import anything.
"""
