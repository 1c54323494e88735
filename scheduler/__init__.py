"""The top layer: the ``scheduler`` command line (``scheduler.cli``) and the web process
(``scheduler.web``). Nothing below imports it."""
