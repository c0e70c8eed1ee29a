"""Firmware rollout campaigns and remote diagnostics.

``catalog``: firmware images and the time-limited URLs stations fetch them from.
``rollout``: campaigns, waves, maintenance windows, and what station reports change.
``diagnostics``: diagnostics / log requests and the files stations upload.
"""
