"""Writes and reads of desk's records. Every function takes a keyword-only ``session`` and
returns plain Read models; writers also take the acting agent's name and "now" for the audit.

The modules: ``agents``, ``customers`` (with lifecycle), ``calls``, ``complaints``,
``purchases`` (with the loyalty ledger), ``audit``, ``meta``.
"""
