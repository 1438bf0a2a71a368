"""rader-queue: the RaDeR data-generation, training and evaluation pipeline as a job queue.

Public entry points are the ``rader-queue`` CLI (:mod:`rader_queue.cli`), the settings object
(:func:`rader_queue.settings.get_settings`) and the error hierarchy (:mod:`rader_queue.errors`).
"""

__version__ = "0.1.0"
