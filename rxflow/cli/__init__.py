"""The ``rxflow`` command line (the ``cli`` extra: Click and Rich); ``app`` holds the commands.
The library never imports it; the live view it shows is also ``rxflow.progress``."""
