"""The rulebook: policies as data (``policy``) and the engine that evaluates them (``engine``).

Plain Python with no database and no clock, so that it can be tested exhaustively and fast and
run once per distinct set of facts in the set-based yearly assessment.
"""
