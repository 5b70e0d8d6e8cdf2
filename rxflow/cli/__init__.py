"""The ``rxflow`` command line (the ``cli`` extra: click and rich). The library never imports it.

``app`` holds the commands; the live view they show is ``rxflow.progress``.
"""
